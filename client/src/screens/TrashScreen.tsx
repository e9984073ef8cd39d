/**
 * Deleted records of a collection, newest deletion first, each with who deleted it and when,
 * and a button that restores it (`GET /api/records/:collection?deleted=true`, `POST …/restore`).
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { type Collection, COLLECTIONS, recordTitle } from '../../../shared/collections.js'
import { useToast } from '../components/Toasts.js'
import { COLLECTION_LABELS, formatInstant } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useIndex } from '../sync/useIndex.js'
import { useTimeZone } from '../timeZone.js'

/** Pages of deleted records read at most (500 each). */
const TRASH_PAGES = 10

interface TrashedRecord {
  id: string
  deleted: string
  deletedBy?: string
  number?: number | string
  [field: string]: unknown
}

async function readTrash(collection: Collection): Promise<TrashedRecord[]> {
  const items: TrashedRecord[] = []
  let cursor: string | null = null
  for (let page = 0; page < TRASH_PAGES; page++) {
    const params = new URLSearchParams({ deleted: 'true', limit: '500', ...(cursor ? { cursor } : {}) })
    const result: { items: TrashedRecord[]; nextCursor: string | null } = await api('GET', `/api/records/${collection}?${params}`)
    items.push(...result.items)
    cursor = result.nextCursor
    if (!cursor) break
  }
  return items.sort((a, b) => b.deleted.localeCompare(a.deleted))
}

function titleOf(collection: Collection, record: TrashedRecord): string {
  if (collection === 'invoices' && record.number !== undefined) return `Invoice ${record.number}`
  return recordTitle(collection, record)
}

export default function TrashScreen({ collection }: { collection: Collection }) {
  const user = useUser()
  const users = useUsers()
  const toast = useToast()
  const [records, setRecords] = useState<TrashedRecord[] | null>(null)
  const labels = COLLECTION_LABELS[collection]

  const load = useCallback(() => {
    readTrash(collection)
      .then(setRecords)
      .catch((e: unknown) => toast(e instanceof ApiError ? e.message : 'Could not read the trash', 'error'))
  }, [collection, toast])
  useEffect(load, [load])

  // Live: a record deleted or restored anywhere leaves or joins the collection's index, whose
  // ids this follows; the trash is read again when they change (not on every edit).
  const index = useIndex(user.workspace, collection)
  const liveIds = useMemo(
    () =>
      index.loaded
        ? index.entries
            .map((e) => e.id)
            .sort()
            .join(' ')
        : null,
    [index.loaded, index.entries],
  )
  const seenIds = useRef<string | null>(null)
  useEffect(() => {
    if (liveIds === null) return
    const first = seenIds.current === null
    const changed = seenIds.current !== liveIds
    seenIds.current = liveIds
    if (first || !changed) return
    const timer = setTimeout(load, 150)
    return () => clearTimeout(timer)
  }, [liveIds, load])
  const [timeZone] = useTimeZone(user.id)

  async function restore(record: TrashedRecord) {
    const title = titleOf(collection, record)
    try {
      await api('POST', `/api/records/${collection}/${record.id}/restore`)
      setRecords((list) => list?.filter((r) => r.id !== record.id) ?? null)
      toast(`“${title}” restored`, 'success', { href: `/${collection}/${record.id}` })
    } catch (e) {
      toast(e instanceof ApiError ? `Could not restore “${title}”: ${e.message}` : 'Could not restore', 'error')
      load()
    }
  }

  return (
    <section aria-labelledby="trash-title">
      <div className="page-header">
        <h1 id="trash-title">Trash</h1>
        {records && (
          <span className="count" data-testid="trash-count">
            {records.length} deleted {records.length === 1 ? labels.singular.toLowerCase() : labels.plural.toLowerCase()}
          </span>
        )}
        <nav className="trash-tabs" aria-label="Collections">
          {COLLECTIONS.map((c) => (
            <a
              key={c}
              href={`/trash/${c}`}
              className={c === collection ? 'chip chip-action' : 'chip'}
              aria-current={c === collection ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault()
                navigate(`/trash/${c}`)
              }}
            >
              {COLLECTION_LABELS[c].plural}
            </a>
          ))}
        </nav>
        <p className="hint">Deleted records stay here until restored; restoring brings back everything they held.</p>
      </div>
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Deleted</th>
              <th>By</th>
              <th>
                <span className="visually-hidden">Restore</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {records?.map((record) => (
              <tr key={record.id} data-record-id={record.id}>
                <td className="cell-title">{titleOf(collection, record)}</td>
                <td className="cell-muted">{formatInstant(record.deleted, timeZone)}</td>
                <td>{record.deletedBy === user.id ? 'You' : (users.find((u) => u.id === record.deletedBy)?.name ?? 'Someone')}</td>
                <td className="actions">
                  {user.role !== 'viewer' && (
                    <button type="button" className="button button-small" onClick={() => void restore(record)}>
                      Restore
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {records?.length === 0 && <p className="empty">No deleted {labels.plural.toLowerCase()}.</p>}
        {!records && <p className="empty">Loading…</p>}
      </div>
    </section>
  )
}
