/** A collection's records, live from its index document, with search, sorting and presence. */
import { Badge } from '../components/Badge.js'
import { useMemo, useState } from 'react'
import { type Collection, FIELD_DEFAULTS } from '../../../shared/collections.js'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { viewersOf, Viewers } from '../components/Presence.js'
import { useToast } from '../components/Toasts.js'
import { COLLECTION_LABELS, fieldLabel, formatDate, formatInstant, formatMoney, LIST_COLUMNS, timeAgo } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useIndex } from '../sync/useIndex.js'

type SortKey = 'title' | 'updatedAt' | string
interface Sort {
  key: SortKey
  direction: 'asc' | 'desc'
}

/** The value of a list column, for display and for sorting. */
export function columnValue(entry: IndexEntry, column: string): string | number {
  if (column === 'title') return entry.title
  if (column === 'updatedAt') return entry.updatedAt
  if (column === 'number') return String(entry.authority.number ?? '')
  if (column === 'reservation') return String((entry.authority.reservation as { status?: string } | undefined)?.status ?? 'pending')
  const value = entry.fields[column]
  if (Array.isArray(value)) return value.join(', ')
  return typeof value === 'number' ? value : String(value ?? '')
}

function displayValue(entry: IndexEntry, column: string) {
  const value = columnValue(entry, column)
  if (column === 'amount') return formatMoney(Number(value), String(entry.fields.currency ?? 'EUR'))
  if (column === 'start') return formatInstant(String(value))
  if (column === 'closeDate' || column === 'validUntil' || column === 'dueDate') return formatDate(String(value))
  if (column === 'status' || column === 'stage' || column === 'reservation') return value ? <Badge value={String(value)} /> : null
  if (column === 'tags')
    return (entry.fields.tags as string[] | undefined)?.map((t) => (
      <span key={t} className="tag">
        {t}
      </span>
    ))
  return value
}

function matches(entry: IndexEntry, query: string): boolean {
  if (!query) return true
  const haystack = [entry.title, ...Object.values(entry.fields).flat(), entry.authority.number].join(' ').toLowerCase()
  return query
    .toLowerCase()
    .split(/\s+/)
    .every((word) => haystack.includes(word))
}

export function ListScreen({ collection }: { collection: Collection }) {
  const user = useUser()
  const toast = useToast()
  const { entries, presence, loaded, connection } = useIndex(user.workspace, collection)
  const [query, setQuery] = useState('')
  const [sort, setSort] = useState<Sort>({ key: 'updatedAt', direction: 'desc' })
  const columns = LIST_COLUMNS[collection]
  const labels = COLLECTION_LABELS[collection]

  const rows = useMemo(() => {
    const filtered = entries.filter((e) => matches(e, query))
    const factor = sort.direction === 'asc' ? 1 : -1
    return filtered.sort((a, b) => {
      const x = columnValue(a, sort.key)
      const y = columnValue(b, sort.key)
      return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * factor
    })
  }, [entries, query, sort])

  function toggleSort(key: SortKey) {
    setSort((s) => (s.key === key ? { key, direction: s.direction === 'asc' ? 'desc' : 'asc' } : { key, direction: 'asc' }))
  }

  /** The create form (NewRecordScreen): nothing exists until it is saved; events open the booking dialog. */
  function create() {
    navigate(`/${collection}/new`)
  }

  const headers: { key: SortKey; label: string }[] = [
    { key: 'title', label: 'Name' },
    ...columns.map((c) => ({ key: c, label: fieldLabel(c) })),
    { key: 'updatedAt', label: 'Updated' },
  ]
  return (
    <section aria-labelledby="list-title">
      <div className="page-header">
        <h1 id="list-title">{labels.plural}</h1>
        <span className="count">{entries.length}</span>
        <div className="page-actions">
          <input
            type="search"
            className="search"
            placeholder={`Search ${labels.plural.toLowerCase()}…`}
            aria-label={`Search ${labels.plural.toLowerCase()}`}
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          {user.role !== 'viewer' && (
            <button type="button" className="button button-primary" onClick={create}>
              New {labels.singular.toLowerCase()}
            </button>
          )}
        </div>
      </div>
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              {headers.map((h) => (
                <th key={h.key} aria-sort={sort.key === h.key ? (sort.direction === 'asc' ? 'ascending' : 'descending') : 'none'}>
                  <button type="button" className="sort" onClick={() => toggleSort(h.key)}>
                    {h.label}
                    <span aria-hidden="true">{sort.key === h.key ? (sort.direction === 'asc' ? ' ▲' : ' ▼') : ''}</span>
                  </button>
                </th>
              ))}
              <th>
                <span className="visually-hidden">Viewing now</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((entry) => (
              <tr key={entry.id} className="row-link" onClick={() => navigate(`/${collection}/${entry.id}`)} data-record-id={entry.id}>
                <td className="cell-title">
                  <a
                    href={`/${collection}/${entry.id}`}
                    title={entry.title}
                    onClick={(e) => {
                      e.preventDefault()
                      e.stopPropagation()
                      navigate(`/${collection}/${entry.id}`)
                    }}
                  >
                    {entry.title}
                  </a>
                </td>
                {columns.map((c) => (
                  <td key={c}>{displayValue(entry, c)}</td>
                ))}
                <td className="cell-muted cell-time">{timeAgo(entry.updatedAt)}</td>
                <td>
                  <Viewers viewers={viewersOf(presence, entry.id, connection?.doc.clientID)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {loaded && rows.length === 0 && (
          <p className="empty">{query ? 'Nothing matches your search.' : `No ${labels.plural.toLowerCase()} yet.`}</p>
        )}
        {!loaded && <p className="empty">Loading…</p>}
      </div>
    </section>
  )
}
