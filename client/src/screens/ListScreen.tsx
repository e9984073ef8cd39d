/**
 * A collection's records, live from its index document: columns of one's choosing, sorting,
 * filters, a search that also finds words in the notes (through the API), saved views, bulk
 * changes with undo, and presence. Only the rows on screen are drawn, so ten thousand
 * records scroll as smoothly as ten.
 */
import { useVirtualizer } from '@tanstack/react-virtual'
import { useMemo, useRef, useState } from 'react'
import type { Collection } from '../../../shared/collections.js'
import type { ViewBody } from '../../../shared/views.js'
import { Cell } from '../components/ListCell.js'
import { BulkBar, ColumnChooser, FilterBar, ViewsBar } from '../components/ListControls.js'
import { viewersOf, Viewers } from '../components/Presence.js'
import { useToast } from '../components/Toasts.js'
import { forEachId } from '../bulk.js'
import { COLLECTION_LABELS, enumLabel, enumValues, REF_TARGETS } from '../fieldKinds.js'
import {
  columnsOf,
  DEFAULT_COLUMNS,
  haystackOf,
  type ListColumn,
  type ListContext,
  matchesWords,
  passes,
  sortEntries,
} from '../listColumns.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useListState, useSavedViews } from '../session/useSavedViews.js'
import { useUsers } from '../session/useUsers.js'
import { useEntriesById, useNotesSearch } from '../sync/useListData.js'
import { useIndex } from '../sync/useIndex.js'
import { useTimeZone } from '../timeZone.js'

/** Estimated height of a row before it is measured, px. */
const ROW_PX = 45
/** Width of each kind of column, px (the title takes the rest). */
const COLUMN_PX: Record<ListColumn['kind'], number> = {
  title: 0,
  text: 170,
  enum: 120,
  money: 120,
  date: 140,
  // "Wed, Dec 2, 02:00 PM" whole: the time is what an event's start is read for.
  instant: 190,
  user: 130,
  users: 170,
  ref: 160,
  tags: 160,
}
/** The *Updated* column, which says "2 min ago" (its instant is the tooltip). */
const UPDATED_PX = 120
/** A column's width, px. */
const columnPx = (c: ListColumn) => (c.key === 'updatedAt' ? UPDATED_PX : COLUMN_PX[c.kind])
const CHECKBOX_PX = 40
const VIEWERS_PX = 70
/** The title's narrowest: more columns than fit make the table scroll sideways rather than squeeze it. */
const TITLE_MIN_PX = 200
/** The field a bulk "change stage / status" sets, per collection. */
const STATUS_FIELD: Record<Collection, string> = {
  customers: '',
  leads: 'status',
  deals: 'stage',
  proposals: 'status',
  invoices: 'status',
  events: 'status',
  tasks: 'status',
}

export function ListScreen({ collection }: { collection: Collection }) {
  const user = useUser()
  const users = useUsers()
  const toast = useToast()
  const { entries, presence, loaded, connection } = useIndex(user.workspace, collection)
  const columns = useMemo(() => columnsOf(collection), [collection])
  // The collections this list's references point at (a task's `about` may point at any of these).
  const needs = (target: Collection) => columns.some((c) => REF_TARGETS[c.key] === target || c.key === 'about')
  const customers = useEntriesById(user.workspace, needs('customers') ? 'customers' : null)
  const deals = useEntriesById(user.workspace, needs('deals') ? 'deals' : null)
  const leads = useEntriesById(user.workspace, needs('leads') ? 'leads' : null)
  const proposals = useEntriesById(user.workspace, needs('proposals') ? 'proposals' : null)
  const [timeZone] = useTimeZone(user.id)
  const context = useMemo<ListContext>(
    () => ({ users: new Map(users.map((u) => [u.id, u.name])), refs: { customers, deals, leads, proposals }, timeZone }),
    [users, customers, deals, leads, proposals, timeZone],
  )
  const [state, setState] = useListState(user.id, collection, () => ({
    columns: [...DEFAULT_COLUMNS[collection]],
    sort: { column: 'updatedAt', direction: 'desc' },
    filters: [],
    viewId: null,
  }))
  const { views, save, remove } = useSavedViews(collection)
  const [query, setQuery] = useState('')
  const notesMatches = useNotesSearch(collection, query)
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set())
  const labels = COLLECTION_LABELS[collection]
  const plural = labels.plural.toLowerCase()
  const byKey = useMemo(() => new Map(columns.map((c) => [c.key, c])), [columns])
  const shown = [columns[0]!, ...state.columns.flatMap((k) => byKey.get(k) ?? [])]

  const searching = query.trim() !== ''
  const haystacks = useMemo(
    () => (searching ? new Map(entries.map((e) => [e.id, haystackOf(e, columns, context)])) : null),
    [searching, entries, columns, context],
  )
  const rows = useMemo(() => {
    const filters = state.filters.flatMap((f) => {
      const column = byKey.get(f.column)
      return column ? [{ filter: f, column }] : []
    })
    const kept = entries.filter(
      (e) =>
        filters.every(({ filter, column }) => passes(e, filter, column, context)) &&
        (!haystacks || matchesWords(haystacks.get(e.id) ?? '', query) || notesMatches?.has(e.id) === true),
    )
    const sortColumn = state.sort && byKey.get(state.sort.column)
    return sortColumn && state.sort ? sortEntries(kept, sortColumn, state.sort.direction, context) : kept
  }, [entries, state.filters, state.sort, byKey, context, haystacks, query, notesMatches])

  const scrollRef = useRef<HTMLDivElement>(null)
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_PX,
    overscan: 12,
    getItemKey: (i) => rows[i]!.id,
  })
  const items = virtualizer.getVirtualItems()
  const padTop = items[0]?.start ?? 0
  const padBottom = virtualizer.getTotalSize() - (items.at(-1)?.end ?? 0)

  const current = views.find((v) => v.id === state.viewId)
  const body: Omit<ViewBody, 'name'> = { collection, columns: state.columns, sort: state.sort, filters: state.filters }
  const modified =
    !!current &&
    JSON.stringify([current.columns, current.sort, current.filters]) !== JSON.stringify([body.columns, body.sort, body.filters])
  const selectedRows = rows.filter((e) => selected.has(e.id))
  const allSelected = rows.length > 0 && selectedRows.length === rows.length
  const readOnly = user.role === 'viewer'

  function toggleSort(key: string) {
    setState((s) => ({
      ...s,
      sort:
        s.sort?.column === key
          ? { column: key, direction: s.sort.direction === 'asc' ? 'desc' : 'asc' }
          : { column: key, direction: 'asc' },
    }))
  }

  /** The create form (NewRecordScreen): nothing exists until it is saved; events open the booking dialog. */
  function create() {
    navigate(`/${collection}/new`)
  }

  async function bulkPatch(field: string, value: string, what: string) {
    const ids = selectedRows.map((e) => e.id)
    const { done, error } = await forEachId(ids, (id) => api('PATCH', `/api/records/${collection}/${id}`, { [field]: value }))
    if (error) toast(`Changed ${done.length} of ${ids.length}: ${error instanceof ApiError ? error.message : 'a change failed'}`, 'error')
    else toast(`${what} of ${done.length} ${done.length === 1 ? labels.singular.toLowerCase() : plural} changed`, 'success')
  }

  async function bulkDelete() {
    const ids = selectedRows.map((e) => e.id)
    const { done, error } = await forEachId(ids, (id) => api('DELETE', `/api/records/${collection}/${id}`))
    setSelected(new Set())
    if (error) toast(`Deleted ${done.length} of ${ids.length}: ${error instanceof ApiError ? error.message : 'a delete failed'}`, 'error')
    if (done.length === 0) return
    toast(`${done.length} ${done.length === 1 ? labels.singular.toLowerCase() : plural} moved to the trash`, 'success', {
      action: {
        label: 'Undo',
        run: () =>
          void forEachId(done, (id) => api('POST', `/api/records/${collection}/${id}/restore`)).then((r) =>
            toast(r.error ? `Restored ${r.done.length} of ${done.length}` : `Restored ${r.done.length}`, r.error ? 'error' : 'success'),
          ),
      },
    })
  }

  const statusField = STATUS_FIELD[collection]
  const filtered = rows.length !== entries.length
  return (
    <section aria-labelledby="list-title" className="list-page">
      <div className="page-header">
        <h1 id="list-title">{labels.plural}</h1>
        <span className="count" data-testid="list-count">
          {filtered ? `${rows.length} of ${entries.length} ${plural}` : `${entries.length} ${plural}`}
        </span>
        <div className="page-actions">
          <input
            type="search"
            className="search"
            placeholder={`Search ${plural}, notes too…`}
            aria-label={`Search ${plural}`}
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          <a
            className="button button-ghost"
            href={`/trash/${collection}`}
            onClick={(e) => {
              e.preventDefault()
              navigate(`/trash/${collection}`)
            }}
          >
            Trash
          </a>
          {!readOnly && (
            <button type="button" className="button button-primary" onClick={create}>
              New {labels.singular.toLowerCase()}
            </button>
          )}
        </div>
      </div>
      <div className="list-toolbar">
        <ViewsBar
          views={views}
          current={current}
          modified={modified}
          allLabel={`All ${plural}`}
          onApply={(view) =>
            setState((s) =>
              view ? { columns: view.columns, sort: view.sort, filters: view.filters, viewId: view.id } : { ...s, viewId: null },
            )
          }
          onSave={async (name) => {
            try {
              const saved = await save(crypto.randomUUID(), { ...body, name })
              setState((s) => ({ ...s, viewId: saved.id }))
              toast(`View “${saved.name}” saved`, 'success')
            } catch (e) {
              toast(e instanceof ApiError ? e.message : 'Could not save the view', 'error')
              throw e
            }
          }}
          onUpdate={async () => {
            if (current) await save(current.id, { ...body, name: current.name }).catch(() => toast('Could not update the view', 'error'))
          }}
          onDelete={async () => {
            if (!current) return
            await remove(current.id).catch(() => toast('Could not delete the view', 'error'))
            setState((s) => ({ ...s, viewId: null }))
          }}
        />
        <ColumnChooser columns={columns} shown={state.columns} onChange={(c) => setState((s) => ({ ...s, columns: c }))} />
      </div>
      <FilterBar columns={columns} filters={state.filters} context={context} onChange={(f) => setState((s) => ({ ...s, filters: f }))} />
      {!readOnly && selectedRows.length > 0 && (
        <BulkBar
          count={selectedRows.length}
          owners={columns.some((c) => c.key === 'ownerId') ? users.map((u) => ({ value: u.id, label: u.name })) : null}
          statusLabel={statusField ? (byKey.get(statusField)?.label ?? null) : null}
          statuses={statusField ? enumValues(collection, statusField).map((v) => ({ value: v, label: enumLabel(v) })) : []}
          onOwner={(id) => void bulkPatch('ownerId', id, 'Owner')}
          onStatus={(v) => void bulkPatch(statusField, v, byKey.get(statusField)?.label ?? 'Status')}
          onDelete={() => void bulkDelete()}
          onClear={() => setSelected(new Set())}
        />
      )}
      <div className="table-wrap table-scroll" ref={scrollRef}>
        <table
          className="table table-fixed"
          style={{ minWidth: shown.reduce((sum, c) => sum + columnPx(c), CHECKBOX_PX + VIEWERS_PX + TITLE_MIN_PX) }}
        >
          <colgroup>
            <col style={{ width: CHECKBOX_PX }} />
            {shown.map((c) => (
              <col key={c.key} style={c.kind === 'title' ? undefined : { width: columnPx(c) }} />
            ))}
            <col style={{ width: VIEWERS_PX }} />
          </colgroup>
          <thead>
            <tr>
              <th>
                {!readOnly && (
                  <input
                    type="checkbox"
                    aria-label={`Select all ${rows.length} ${plural} shown`}
                    checked={allSelected}
                    onChange={() => setSelected(allSelected ? new Set() : new Set(rows.map((e) => e.id)))}
                  />
                )}
              </th>
              {shown.map((h) => (
                <th
                  key={h.key}
                  className={h.kind === 'money' ? 'num' : undefined}
                  aria-sort={state.sort?.column === h.key ? (state.sort.direction === 'asc' ? 'ascending' : 'descending') : 'none'}
                >
                  <button type="button" className="sort" onClick={() => toggleSort(h.key)}>
                    {h.label}
                    <span aria-hidden="true">{state.sort?.column === h.key ? (state.sort.direction === 'asc' ? ' ▲' : ' ▼') : ''}</span>
                  </button>
                </th>
              ))}
              <th>
                <span className="visually-hidden">Viewing now</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {padTop > 0 && <tr style={{ height: padTop }} />}
            {items.map((item) => {
              const entry = rows[item.index]!
              return (
                <tr
                  key={entry.id}
                  ref={virtualizer.measureElement}
                  data-index={item.index}
                  className="row-link"
                  onClick={() => navigate(`/${collection}/${entry.id}`)}
                  data-record-id={entry.id}
                >
                  <td>
                    {!readOnly && (
                      <input
                        type="checkbox"
                        onClick={(e) => e.stopPropagation()}
                        aria-label={`Select ${columns[0]!.text(entry, context)}`}
                        checked={selected.has(entry.id)}
                        onChange={() =>
                          setSelected((s) => {
                            const next = new Set(s)
                            if (!next.delete(entry.id)) next.add(entry.id)
                            return next
                          })
                        }
                      />
                    )}
                  </td>
                  {shown.map((c) => (
                    <Cell key={c.key} column={c} entry={entry} context={context} collection={collection} />
                  ))}
                  <td>
                    <Viewers viewers={viewersOf(presence, entry.id, connection?.doc.clientID)} />
                  </td>
                </tr>
              )
            })}
            {padBottom > 0 && <tr style={{ height: padBottom }} />}
          </tbody>
        </table>
        {loaded && rows.length === 0 && (
          <p className="empty">{searching || filtered ? 'Nothing matches your search and filters.' : `No ${plural} yet.`}</p>
        )}
        {!loaded && <p className="empty">Loading…</p>}
      </div>
    </section>
  )
}
