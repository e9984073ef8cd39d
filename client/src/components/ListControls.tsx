/** The controls above a list: saved views, filters, columns, and what to do with the selected rows. */
import { useEffect, useRef, useState } from 'react'
import type { SavedView, ViewFilter } from '../../../shared/views.js'
import type { ListColumn, ListContext } from '../listColumns.js'

/** A new, empty filter of `column`. */
export function emptyFilter(column: ListColumn): ViewFilter {
  if (column.filter === 'range') return { kind: 'range', column: column.key, min: null, max: null }
  if (column.filter === 'dates') return { kind: 'dates', column: column.key, from: '', to: '' }
  return { kind: 'in', column: column.key, values: [] }
}

interface FilterBarProps {
  columns: readonly ListColumn[]
  filters: readonly ViewFilter[]
  context: ListContext
  onChange: (filters: ViewFilter[]) => void
}

export function FilterBar({ columns, filters, context, onChange }: FilterBarProps) {
  const byKey = new Map(columns.map((c) => [c.key, c]))
  const addable = columns.filter((c) => c.filter && !filters.some((f) => f.column === c.key))
  const replace = (i: number, filter: ViewFilter | null) =>
    onChange(filter ? filters.map((f, j) => (j === i ? filter : f)) : filters.filter((_, j) => j !== i))
  return (
    <div className="list-filters">
      {filters.map((filter, i) => {
        const column = byKey.get(filter.column)
        if (!column) return null
        return (
          <fieldset key={filter.column} className="filter" data-filter={filter.column}>
            <legend>{column.label}</legend>
            <FilterInputs filter={filter} column={column} context={context} onChange={(f) => replace(i, f)} />
            <button
              type="button"
              className="filter-remove"
              aria-label={`Remove the ${column.label} filter`}
              onClick={() => replace(i, null)}
            >
              ×
            </button>
          </fieldset>
        )
      })}
      {addable.length > 0 && (
        <select
          aria-label="Add a filter"
          className="filter-add"
          value=""
          onChange={(e) => {
            const column = byKey.get(e.target.value)
            if (column) onChange([...filters, emptyFilter(column)])
          }}
        >
          <option value="">+ Filter…</option>
          {addable.map((c) => (
            <option key={c.key} value={c.key}>
              {c.label}
            </option>
          ))}
        </select>
      )}
    </div>
  )
}

function FilterInputs({
  filter,
  column,
  context,
  onChange,
}: {
  filter: ViewFilter
  column: ListColumn
  context: ListContext
  onChange: (filter: ViewFilter) => void
}) {
  switch (filter.kind) {
    case 'in':
      return (
        <span className="filter-values">
          {(column.options?.(context) ?? []).map((o) => (
            <label key={o.value} className="filter-value">
              <input
                type="checkbox"
                checked={filter.values.includes(o.value)}
                onChange={(e) =>
                  onChange({
                    ...filter,
                    values: e.target.checked ? [...filter.values, o.value] : filter.values.filter((v) => v !== o.value),
                  })
                }
              />
              {o.label}
            </label>
          ))}
        </span>
      )
    case 'range': {
      const number = (value: string) => (value === '' || !Number.isFinite(Number(value)) ? null : Number(value))
      return (
        <span className="filter-range">
          <input
            type="number"
            aria-label={`${column.label} from`}
            placeholder="min"
            value={filter.min ?? ''}
            onChange={(e) => onChange({ ...filter, min: number(e.target.value) })}
          />
          –
          <input
            type="number"
            aria-label={`${column.label} to`}
            placeholder="max"
            value={filter.max ?? ''}
            onChange={(e) => onChange({ ...filter, max: number(e.target.value) })}
          />
        </span>
      )
    }
    case 'dates':
      return (
        <span className="filter-range">
          <input
            type="date"
            aria-label={`${column.label} from`}
            value={filter.from}
            onChange={(e) => onChange({ ...filter, from: e.target.value })}
          />
          –
          <input
            type="date"
            aria-label={`${column.label} to`}
            value={filter.to}
            onChange={(e) => onChange({ ...filter, to: e.target.value })}
          />
        </span>
      )
  }
}

/** Which columns to show (the title always is). */
export function ColumnChooser({
  columns,
  shown,
  onChange,
}: {
  columns: readonly ListColumn[]
  shown: readonly string[]
  onChange: (columns: string[]) => void
}) {
  return (
    <details className="menu">
      <summary className="button">Columns</summary>
      <fieldset className="menu-panel">
        <legend className="visually-hidden">Columns shown</legend>
        {columns.slice(1).map((c) => (
          <label key={c.key} className="menu-item">
            <input
              type="checkbox"
              checked={shown.includes(c.key)}
              onChange={(e) =>
                onChange(
                  e.target.checked
                    ? columns.filter((x) => x.key === c.key || shown.includes(x.key)).map((x) => x.key)
                    : shown.filter((k) => k !== c.key),
                )
              }
            />
            {c.label}
          </label>
        ))}
      </fieldset>
    </details>
  )
}

interface ViewsBarProps {
  views: readonly SavedView[]
  current: SavedView | undefined
  modified: boolean
  allLabel: string
  onApply: (view: SavedView | null) => void
  onSave: (name: string) => Promise<void>
  onUpdate: () => Promise<void>
  onDelete: () => Promise<void>
}

/** Pick a saved view, save the list as one, update or delete the current one. */
export function ViewsBar({ views, current, modified, allLabel, onApply, onSave, onUpdate, onDelete }: ViewsBarProps) {
  const [naming, setNaming] = useState(false)
  const [name, setName] = useState('')
  const nameInput = useRef<HTMLInputElement>(null)
  // The name field, once asked for, takes the typing.
  useEffect(() => {
    if (naming) nameInput.current?.focus()
  }, [naming])
  return (
    <div className="views-bar">
      <select
        aria-label="Saved view"
        value={current?.id ?? ''}
        onChange={(e) => onApply(views.find((v) => v.id === e.target.value) ?? null)}
      >
        <option value="">{allLabel}</option>
        {views.map((v) => (
          <option key={v.id} value={v.id}>
            {v.name}
          </option>
        ))}
      </select>
      {current && modified && (
        <button type="button" className="button button-small" onClick={() => void onUpdate()}>
          Update “{current.name}”
        </button>
      )}
      {current && (
        <button type="button" className="button button-small button-ghost" onClick={() => void onDelete()}>
          Delete view
        </button>
      )}
      {naming ? (
        <form
          className="view-name"
          onSubmit={(e) => {
            e.preventDefault()
            void onSave(name).then(() => {
              setNaming(false)
              setName('')
            })
          }}
        >
          <input
            ref={nameInput}
            aria-label="View name"
            placeholder="Name this view"
            value={name}
            maxLength={80}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" className="button button-small button-primary" disabled={!name.trim()}>
            Save
          </button>
          <button type="button" className="button button-small button-ghost" onClick={() => setNaming(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <button type="button" className="button button-small" onClick={() => setNaming(true)}>
          Save view
        </button>
      )}
    </div>
  )
}

interface BulkBarProps {
  count: number
  owners: { value: string; label: string }[] | null
  statusLabel: string | null
  statuses: { value: string; label: string }[]
  onOwner: (ownerId: string) => void
  onStatus: (value: string) => void
  onDelete: () => void
  onClear: () => void
}

/** What to do with the selected rows: change their owner or stage/status, delete them. */
export function BulkBar({ count, owners, statusLabel, statuses, onOwner, onStatus, onDelete, onClear }: BulkBarProps) {
  return (
    <section className="bulk-bar" aria-label="Selected records">
      <strong data-testid="selected-count">{count} selected</strong>
      {owners && (
        <select aria-label="Change owner" value="" onChange={(e) => e.target.value && onOwner(e.target.value)}>
          <option value="">Change owner…</option>
          {owners.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
      {statusLabel && (
        <select aria-label={`Change ${statusLabel.toLowerCase()}`} value="" onChange={(e) => e.target.value && onStatus(e.target.value)}>
          <option value="">Change {statusLabel.toLowerCase()}…</option>
          {statuses.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
      <button type="button" className="button button-small button-danger" onClick={onDelete}>
        Delete
      </button>
      <button type="button" className="button button-small button-ghost" onClick={onClear}>
        Clear selection
      </button>
    </section>
  )
}
