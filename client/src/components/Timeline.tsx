/** Who changed which fields when, from the server's update log; refreshed as the record changes. */
import { useEffect, useId, useRef, useState } from 'react'
import type { Collection } from '../../../shared/collections.js'
import { fieldLabel, timeAgo } from '../fieldKinds.js'
import { api, type User } from '../session/api.js'

interface HistoryItem {
  at: string
  userId: string | null
  fields: string[]
}

/** Edits by one person this close together show as one entry. @default 5 minutes */
const GROUP_WINDOW_MS = 5 * 60_000

/**
 * Folds each person's burst of edits (newest first) into one entry with every field
 * touched. The oldest entry, the creation, stays on its own when the history is complete.
 */
export function groupHistory(items: HistoryItem[], complete = true): (HistoryItem & { created?: boolean })[] {
  const edits = complete ? items.slice(0, -1) : items
  const groups: { item: HistoryItem; oldest: number }[] = []
  for (const item of edits) {
    const at = Date.parse(item.at)
    const group = groups.find((g) => g.item.userId === item.userId && g.oldest - at <= GROUP_WINDOW_MS)
    if (group) {
      group.item = { ...group.item, fields: [...new Set([...group.item.fields, ...item.fields])] }
      group.oldest = at
    } else groups.push({ item: { ...item, fields: [...item.fields] }, oldest: at })
  }
  const creation = complete ? items.at(-1) : undefined
  return [...groups.map((g) => g.item), ...(creation ? [{ ...creation, created: true }] : [])]
}

/** Most entries the history endpoint returns; a full page means older ones exist. @default 500 */
const HISTORY_PAGE = 500

/** Quiet period after a change before the history is fetched again. @default 600 ms */
const REFRESH_DEBOUNCE_MS = 600

export function Timeline({ collection, id, version, users }: { collection: Collection; id: string; version: number; users: User[] }) {
  const headingId = useId()
  const [items, setItems] = useState<HistoryItem[] | null>(null)
  const fetchedOnce = useRef(false)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` changes with the record: it is there to fetch the history again
  useEffect(() => {
    let live = true
    const timer = setTimeout(
      () =>
        void api<{ items: HistoryItem[] }>('GET', `/api/records/${collection}/${id}/history`)
          .then((r) => {
            fetchedOnce.current = true
            if (live) setItems(r.items)
          })
          .catch(() => undefined),
      fetchedOnce.current ? REFRESH_DEBOUNCE_MS : 0,
    )
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [collection, id, version])
  const nameOf = (userId: string | null) => users.find((u) => u.id === userId)?.name ?? (userId ? 'Someone' : 'System')
  const colorOf = (userId: string | null) => users.find((u) => u.id === userId)?.color ?? '#94a3b8'
  const shown = groupHistory(items ?? [], (items?.length ?? 0) < HISTORY_PAGE).slice(0, 30)
  return (
    <section className="card timeline" aria-labelledby={headingId}>
      <h2 id={headingId}>Activity</h2>
      {items === null && <p className="cell-muted">Loading…</p>}
      <ol>
        {shown.map((item, i) => (
          <li key={`${item.at}-${i}`}>
            <span className="timeline-dot" style={{ background: colorOf(item.userId) }} aria-hidden="true" />
            <div>
              <strong>{nameOf(item.userId)}</strong>{' '}
              {item.created ? 'created this record' : item.fields.length ? <>changed {item.fields.map(fieldLabel).join(', ')}</> : 'edited'}
              <time dateTime={item.at} title={new Date(item.at).toLocaleString()}>
                {timeAgo(item.at)}
              </time>
            </div>
          </li>
        ))}
      </ol>
    </section>
  )
}
