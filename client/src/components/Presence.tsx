/** Avatars of the people viewing a record (from index-document awareness). */
import type { PresenceState } from '../sync/hooks.js'
import { Avatar } from './Avatar.js'

/** People (one per user) whose awareness says they view `recordId`, excluding this tab. */
export function viewersOf(
  presence: PresenceState[],
  recordId: string,
  ownClientId: number | undefined,
): { id: string; name: string; color: string }[] {
  const byUser = new Map<string, { id: string; name: string; color: string }>()
  for (const state of presence) {
    if (state.clientId === ownClientId || state.viewing !== recordId || !state.user) continue
    byUser.set(state.user.id, state.user)
  }
  return [...byUser.values()]
}

export function Viewers({ viewers }: { viewers: { id: string; name: string; color: string }[] }) {
  if (viewers.length === 0) return null
  return (
    <span className="viewers" aria-label={`Viewing now: ${viewers.map((v) => v.name).join(', ')}`} data-testid="viewers">
      {viewers.map((v) => (
        <Avatar key={v.id} name={v.name} color={v.color} size="sm" />
      ))}
    </span>
  )
}
