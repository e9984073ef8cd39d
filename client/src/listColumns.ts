/**
 * The columns of each collection's list, and what a list does with them: read a value for
 * sorting and filtering, words for the search, filter and sort the rows. Pure: the screen
 * (screens/ListScreen.tsx) draws what these return.
 */
import { type Collection, FIELD_SCHEMAS } from '../../shared/collections.js'
import type { IndexEntry } from '../../shared/docLayout.js'
import type { ViewFilter, ViewSort } from '../../shared/views.js'
import { toZonedInput } from './calendarMath.js'
import { enumLabel, enumValues, fieldKind, fieldLabel, formatDate, formatInstant, formatMoney, REF_TARGETS } from './fieldKinds.js'

/** How a column is read, drawn and filtered. */
export type ColumnKind = 'title' | 'text' | 'enum' | 'money' | 'date' | 'instant' | 'user' | 'users' | 'ref' | 'tags'

/** What turning ids into names needs. */
export interface ListContext {
  /** User id → name. */
  users: ReadonlyMap<string, string>
  /** The entries of the collections that reference fields point at, by id (those a list needs). */
  refs: Partial<Record<Collection, ReadonlyMap<string, IndexEntry>>>
  /** The zone instants are shown and filtered on (the calendar's, timeZone.ts); this device's when absent. */
  timeZone?: string
}

export interface ListColumn {
  key: string
  label: string
  kind: ColumnKind
  /** The value sorted and filtered on: a number, a string, or null for none. */
  value(entry: IndexEntry, context: ListContext): string | number | null
  /** The value in words, as shown and searched. */
  text(entry: IndexEntry, context: ListContext): string
  /** How it is filtered, if at all. */
  filter: ViewFilter['kind'] | null
  /** The values an `in` filter offers: value and label. */
  options?(context: ListContext): { value: string; label: string }[]
}

/** A reserved value of an `in` filter: the field is empty. */
export const NONE = ''

const str = (value: unknown) => (value === undefined || value === null ? '' : String(value))

/** The currency of an entry's amount or total: its own, else its deal's, else EUR. */
export function currencyOf(entry: IndexEntry, context: ListContext): string {
  if (typeof entry.fields.currency === 'string') return entry.fields.currency
  const deal = context.refs.deals?.get(str(entry.fields.dealId))
  return typeof deal?.fields.currency === 'string' ? deal.fields.currency : 'EUR'
}

function titleColumn(collection: Collection): ListColumn {
  if (collection === 'invoices') {
    return {
      key: 'number',
      label: 'Number',
      kind: 'title',
      value: (e) => (e.authority.number === undefined ? null : str(e.authority.number)),
      text: (e) => (e.authority.number === undefined ? 'Draft' : str(e.authority.number)),
      filter: null,
    }
  }
  return {
    key: 'title',
    label: collection === 'customers' || collection === 'leads' ? 'Name' : 'Title',
    kind: 'title',
    value: (e) => e.title,
    text: (e) => e.title,
    filter: null,
  }
}

function fieldColumn(collection: Collection, field: string): ListColumn {
  const raw = (e: IndexEntry) => e.fields[field]
  const label = fieldLabel(field)
  const kind = fieldKind(field)
  switch (kind) {
    case 'enum': {
      const values = enumValues(collection, field)
      return {
        key: field,
        label,
        kind: 'enum',
        value: (e) => (values.includes(str(raw(e))) ? str(raw(e)) : null),
        text: (e) => (raw(e) ? enumLabel(str(raw(e))) : ''),
        filter: 'in',
        options: () => values.map((v) => ({ value: v, label: enumLabel(v) })),
      }
    }
    case 'money':
      return numberColumn(field, label, (n, e, c) => formatMoney(n, currencyOf(e, c)))
    case 'date':
      return { key: field, label, kind: 'date', value: (e) => str(raw(e)) || null, text: (e) => formatDate(str(raw(e))), filter: 'dates' }
    case 'instant':
      return {
        key: field,
        label,
        kind: 'instant',
        value: (e) => str(raw(e)) || null,
        text: (e, c) => formatInstant(str(raw(e)), c.timeZone),
        filter: 'dates',
      }
    case 'user':
      return {
        key: field,
        label,
        kind: 'user',
        value: (e, c) => (raw(e) ? (c.users.get(str(raw(e))) ?? str(raw(e))) : null),
        text: (e, c) => (raw(e) ? (c.users.get(str(raw(e))) ?? '') : ''),
        filter: 'in',
        options: (c) => [{ value: NONE, label: 'Nobody' }, ...[...c.users].map(([value, name]) => ({ value, label: name }))],
      }
    case 'users':
      return {
        key: field,
        label,
        kind: 'users',
        value: (e, c) => usersOf(raw(e), c).join(', ') || null,
        text: (e, c) => usersOf(raw(e), c).join(', '),
        filter: null,
      }
    case 'ref': {
      const target = REF_TARGETS[field]
      const title = (e: IndexEntry, c: ListContext) => (raw(e) && target ? (c.refs[target]?.get(str(raw(e)))?.title ?? '') : '')
      return { key: field, label, kind: 'ref', value: (e, c) => title(e, c) || null, text: title, filter: null }
    }
    case 'about': {
      // `<collection>/<id>`: the record's title when its collection's entries are at hand.
      const title = (e: IndexEntry, c: ListContext) => {
        const [collection, id] = str(raw(e)).split('/')
        return collection && id ? (c.refs[collection as Collection]?.get(id)?.title ?? '') : ''
      }
      return { key: field, label, kind: 'ref', value: (e, c) => title(e, c) || null, text: title, filter: null }
    }
    case 'percent':
      return numberColumn(field, label, (n) => `${n} %`)
    case 'tags':
      return {
        key: field,
        label,
        kind: 'tags',
        value: (e) => (Array.isArray(raw(e)) ? (raw(e) as string[]).join(', ') : null),
        text: (e) => (Array.isArray(raw(e)) ? (raw(e) as string[]).join(' ') : ''),
        filter: null,
      }
    case 'text':
    case 'email':
    case 'currency':
      return { key: field, label, kind: 'text', value: (e) => str(raw(e)) || null, text: (e) => str(raw(e)), filter: null }
  }
}

/** A number field's column, right-aligned, sorted and filtered by range, shown by `format`. */
function numberColumn(field: string, label: string, format: (n: number, e: IndexEntry, c: ListContext) => string): ListColumn {
  const value = (e: IndexEntry) => {
    const n = e.fields[field]
    return typeof n === 'number' ? n : null
  }
  return {
    key: field,
    label,
    kind: 'money',
    value,
    text: (e, c) => {
      const n = value(e)
      return n === null ? '' : format(n, e, c)
    },
    filter: 'range',
  }
}

function usersOf(value: unknown, context: ListContext): string[] {
  return Array.isArray(value) ? value.map((id) => context.users.get(String(id)) ?? String(id)) : []
}

const TOTAL: ListColumn = {
  key: 'total',
  label: 'Total',
  kind: 'money',
  value: (e) => e.total ?? null,
  text: (e, c) => (e.total === undefined ? '' : formatMoney(e.total, currencyOf(e, c))),
  filter: 'range',
}

const RESERVATION: ListColumn = {
  key: 'reservation',
  label: 'Reservation',
  kind: 'enum',
  value: (e) => str((e.authority.reservation as { status?: string } | undefined)?.status ?? 'pending'),
  text: (e) => enumLabel(str((e.authority.reservation as { status?: string } | undefined)?.status ?? 'pending')),
  filter: 'in',
  options: () => ['pending', 'confirmed', 'conflict'].map((v) => ({ value: v, label: enumLabel(v) })),
}

const UPDATED: ListColumn = {
  key: 'updatedAt',
  label: 'Updated',
  kind: 'instant',
  value: (e) => e.updatedAt,
  text: (e, c) => formatInstant(e.updatedAt, c.timeZone),
  filter: 'dates',
}

/** Every column a collection's list may show, in their order. */
export function columnsOf(collection: Collection): ListColumn[] {
  const fields = Object.keys(FIELD_SCHEMAS[collection]).filter((f) => !(f === 'title' || f === 'name' || f === 'currency'))
  const extra = collection === 'invoices' || collection === 'proposals' ? [TOTAL] : collection === 'events' ? [RESERVATION] : []
  return [titleColumn(collection), ...fields.map((f) => fieldColumn(collection, f)), ...extra, UPDATED]
}

/** The columns a list shows until its person chooses others, after the title. */
export const DEFAULT_COLUMNS: Record<Collection, readonly string[]> = {
  customers: ['company', 'email', 'ownerId', 'tags', 'updatedAt'],
  leads: ['company', 'status', 'source', 'ownerId', 'updatedAt'],
  deals: ['customerId', 'ownerId', 'stage', 'amount', 'closeDate', 'updatedAt'],
  proposals: ['dealId', 'status', 'total', 'validUntil', 'updatedAt'],
  invoices: ['customerId', 'total', 'status', 'dueDate', 'updatedAt'],
  events: ['start', 'room', 'attendees', 'reservation', 'updatedAt'],
  tasks: ['dueDate', 'assigneeId', 'status', 'about', 'updatedAt'],
}

/** Whether `entry` passes one filter (an `in` filter with no values passes everything). */
export function passes(entry: IndexEntry, filter: ViewFilter, column: ListColumn, context: ListContext): boolean {
  switch (filter.kind) {
    case 'in': {
      if (filter.values.length === 0) return true
      const value = column.kind === 'user' ? str(entry.fields[column.key]) : str(column.value(entry, context))
      return filter.values.includes(value)
    }
    case 'range': {
      const value = column.value(entry, context)
      if (typeof value !== 'number') return filter.min === null && filter.max === null
      return (filter.min === null || value >= filter.min) && (filter.max === null || value <= filter.max)
    }
    case 'dates': {
      if (!filter.from && !filter.to) return true
      const value = column.value(entry, context)
      if (typeof value !== 'string' || !value) return false
      const day = column.kind === 'instant' ? localDay(value, context.timeZone) : value.slice(0, 10)
      return (!filter.from || day >= filter.from) && (!filter.to || day <= filter.to)
    }
  }
}

/** The calendar day of an instant on `timeZone`'s clock (this device's when absent), `YYYY-MM-DD`. */
function localDay(iso: string, timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone): string {
  const ms = Date.parse(iso)
  return Number.isNaN(ms) ? iso.slice(0, 10) : toZonedInput(ms, timeZone).slice(0, 10)
}

/** Whether every word of `query` is in `haystack` (lower case). */
export function matchesWords(haystack: string, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  return words.every((word) => haystack.includes(word))
}

/** What the search looks through: every column's words, lower case. */
export function haystackOf(entry: IndexEntry, columns: readonly ListColumn[], context: ListContext): string {
  return columns
    .map((c) => c.text(entry, context))
    .join(' ')
    .toLowerCase()
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' })

/** Sorts `entries` in place by a column; empty values last either way, then by id. */
export function sortEntries(
  entries: IndexEntry[],
  column: ListColumn,
  direction: ViewSort['direction'],
  context: ListContext,
): IndexEntry[] {
  const factor = direction === 'asc' ? 1 : -1
  // ISO dates and instants sort as their characters do: a plain comparison, many times quicker than a collator's.
  const plain = column.kind === 'date' || column.kind === 'instant'
  const compare = (x: string, y: string) => (plain ? (x < y ? -1 : x > y ? 1 : 0) : collator.compare(x, y))
  const keyed = entries.map((entry) => ({ entry, value: column.value(entry, context) }))
  keyed.sort((a, b) => {
    if (a.value === null || a.value === '') return b.value === null || b.value === '' ? (a.entry.id < b.entry.id ? -1 : 1) : 1
    if (b.value === null || b.value === '') return -1
    const order = typeof a.value === 'number' && typeof b.value === 'number' ? a.value - b.value : compare(String(a.value), String(b.value))
    return order * factor || (a.entry.id < b.entry.id ? -1 : 1)
  })
  keyed.forEach((k, i) => {
    entries[i] = k.entry
  })
  return entries
}
