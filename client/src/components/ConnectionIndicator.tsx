/** Online / offline / syncing / saved, for every open document together. */
import { assertNever } from '../../../shared/docNames.js'
import { useOverallStatus } from '../sync/hooks.js'
import type { OverallStatus } from '../sync/SyncClient.js'

function label(status: OverallStatus): string {
  switch (status) {
    case 'online':
      return 'Online'
    case 'offline':
      return 'Offline — edits are kept on this device'
    case 'syncing':
      return 'Syncing…'
    case 'saved':
      return 'All changes saved'
    default:
      return assertNever(status)
  }
}

export function ConnectionIndicator() {
  const status = useOverallStatus()
  return (
    <div className={`connection connection-${status}`} role="status" aria-live="polite" data-status={status}>
      <span className="connection-dot" aria-hidden="true" />
      <span className="connection-label">{label(status)}</span>
    </div>
  )
}
