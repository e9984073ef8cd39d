/**
 * Records as tables people can read, the same for every export target, and the columns
 * imports take back. Pure.
 *
 * A collection gives one table: a row per record, with references shown by name (the id in
 * the field's own column beside it) and, for proposals and invoices, the items' `total`. Their
 * line items get a table of their own, a row per item. Each column has a kind, which XLSX
 * turns into a type, a number format and a width; CSV and Google Sheets write the text.
 */
import {
  type Collection,
  type FieldValues,
  HAS_ITEMS,
  type LineItem,
  REFERENCES,
  type ReferenceTarget as Target,
  fieldNames,
} from '../../../shared/collections.js'
import type { ApiRecord } from '../../records/RecordReads.js'

/** A cell as written: strings, numbers and booleans; empty string for "no value". */
export type Cell = string | number | boolean

/**
 * What a column holds: `date` is `YYYY-MM-DD`, `instant` an ISO 8601 instant (both text in
 * CSV and Sheets, dates in XLSX), `list` values joined with `, `, `long` free text.
 */
export type ColumnKind = 'id' | 'text' | 'long' | 'list' | 'number' | 'money' | 'date' | 'instant'

export interface Column {
  name: string
  kind: ColumnKind
}

/** What a reference shown by name points at: users, or records of a collection. */
export type ReferenceTarget = Exclude<Target, 'any'>

/** A reference field, shown by name in `column`, just before the field's own column of ids. */
export interface Reference {
  field: string
  column: string
  to: ReferenceTarget
}

/**
 * The name column each reference field gets. `attendees` stays the ids (what an import reads)
 * and its names get a column of their own; an invoice's `proposalId` and a task's `about` are
 * shown as ids only.
 */
const NAME_COLUMNS: Readonly<Record<string, string>> = {
  ownerId: 'owner',
  leadId: 'lead',
  customerId: 'customer',
  dealId: 'deal',
  assigneeId: 'assignee',
  attendees: 'attendeeNames',
}

/** The references of a collection that an export shows by name. */
const namedReferences = (collection: Collection): Reference[] =>
  Object.entries(REFERENCES[collection]).flatMap(([field, to]): Reference[] => {
    const column = NAME_COLUMNS[field]
    return column && to !== 'any' ? [{ field, column, to }] : []
  })

/** The references of each collection that an export shows by name. */
export const NAMED_REFERENCES: Record<Collection, readonly Reference[]> = {
  customers: namedReferences('customers'),
  leads: namedReferences('leads'),
  deals: namedReferences('deals'),
  proposals: namedReferences('proposals'),
  invoices: namedReferences('invoices'),
  events: namedReferences('events'),
  tasks: namedReferences('tasks'),
}

/** Kinds of fields that are not plain text (by field name: the same name means the same thing in every collection). */
const FIELD_KINDS: Readonly<Record<string, ColumnKind>> = {
  amount: 'money',
  taxRate: 'number',
  closeDate: 'date',
  validUntil: 'date',
  dueDate: 'date',
  start: 'instant',
  end: 'instant',
  tags: 'list',
  attendees: 'list',
}

/** Authority values shown in exports (read-only; ignored on import). */
const AUTHORITY_COLUMNS: Record<Collection, readonly Column[]> = {
  customers: [],
  leads: [],
  deals: [],
  proposals: [],
  invoices: [{ name: 'number', kind: 'number' }],
  events: [{ name: 'reservation', kind: 'text' }],
  tasks: [],
}

/** The table of each collection's line items, and the column naming the record each item is on. */
export const ITEM_TABLES: Partial<Record<Collection, { table: string; record: string }>> = {
  proposals: { table: 'proposal-items', record: 'proposal' },
  invoices: { table: 'invoice-items', record: 'invoice' },
}

/** Columns written by exports and ignored by imports. */
export const READ_ONLY_COLUMNS = new Set([
  'id',
  'updatedAt',
  'updatedBy',
  'collection',
  'number',
  'reservation',
  'total',
  ...Object.values(NAMED_REFERENCES).flatMap((refs) => refs.map((ref) => ref.column)),
])

const referenceOf = (collection: Collection, field: string) => NAMED_REFERENCES[collection].find((ref) => ref.field === field)

export function columnsOf(collection: Collection): Column[] {
  const fields = fieldNames(collection).flatMap((field): Column[] => {
    const kind = FIELD_KINDS[field] ?? 'text'
    const ref = referenceOf(collection, field)
    if (!ref) return [{ name: field, kind }]
    return [
      { name: ref.column, kind: kind === 'list' ? 'list' : 'text' },
      { name: field, kind: kind === 'list' ? 'list' : 'id' },
    ]
  })
  return [
    { name: 'id', kind: 'id' },
    ...fields,
    ...(HAS_ITEMS[collection] ? [{ name: 'total', kind: 'money' } as const] : []),
    { name: 'notes', kind: 'long' },
    ...AUTHORITY_COLUMNS[collection],
    { name: 'updatedAt', kind: 'instant' },
  ]
}

export function headerOf(collection: Collection): string[] {
  return columnsOf(collection).map((column) => column.name)
}

/** The columns of a collection's items table (proposals and invoices). */
export function itemColumnsOf(collection: Collection): Column[] {
  const { record } = ITEM_TABLES[collection]!
  return [
    { name: `${record}Id`, kind: 'id' },
    { name: record, kind: 'text' },
    { name: 'line', kind: 'number' },
    { name: 'description', kind: 'text' },
    { name: 'quantity', kind: 'number' },
    { name: 'unitPrice', kind: 'money' },
    { name: 'amount', kind: 'money' },
  ]
}

/** Names of what references point at; an id it does not know is shown as the empty string. */
export interface NameLookup {
  nameOf(to: ReferenceTarget, id: string): string | undefined
}

export function cellOf(value: unknown): Cell {
  if (value === undefined || value === null) return ''
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(', ')
  return JSON.stringify(value)
}

/** Sums without binary noise (0.1 × 3 is 0.3). */
const money = (value: number) => Math.round(value * 1e6) / 1e6

const itemsOf = (record: ApiRecord): LineItem[] => (Array.isArray(record.items) ? record.items : [])

function nameCell(names: NameLookup, to: ReferenceTarget, value: unknown): Cell {
  if (Array.isArray(value)) return value.map((id) => names.nameOf(to, String(id)) ?? '').join(', ')
  return typeof value === 'string' && value ? (names.nameOf(to, value) ?? '') : ''
}

export function rowOf(collection: Collection, record: ApiRecord, names: NameLookup): Cell[] {
  const fields = record as FieldValues
  const columns = new Map(NAMED_REFERENCES[collection].map((ref) => [ref.column, ref]))
  return headerOf(collection).map((column) => {
    const ref = columns.get(column)
    if (ref) return nameCell(names, ref.to, fields[ref.field])
    const value = fields[column]
    if (column === 'total') return money(itemsOf(record).reduce((sum, item) => sum + item.quantity * item.unitPrice, 0))
    if (column === 'reservation' && value && typeof value === 'object') return cellOf((value as { status?: unknown }).status)
    return cellOf(value)
  })
}

/** A label for the record an item is on: a proposal's title, an invoice's number. */
const recordLabel = (collection: Collection, record: ApiRecord): Cell =>
  cellOf(collection === 'invoices' ? (record as FieldValues).number : (record as FieldValues).title)

/** One row per line item of `record`, each with its id (`<record id>:<line>`, for Sheets' sync). */
export function itemRowsOf(collection: Collection, record: ApiRecord): { id: string; cells: Cell[] }[] {
  const label = recordLabel(collection, record)
  return itemsOf(record).map((item, i) => ({
    id: `${record.id}:${i + 1}`,
    cells: [record.id, label, i + 1, item.description, item.quantity, item.unitPrice, money(item.quantity * item.unitPrice)],
  }))
}

/** The tables an export of `collections` writes, in order: each collection, then its items if it has any. */
export function tablesOf(collections: readonly Collection[]): { collection: Collection; items: boolean; name: string }[] {
  return collections.flatMap((collection) => {
    const items = ITEM_TABLES[collection]
    return [{ collection, items: false, name: collection }, ...(items ? [{ collection, items: true, name: items.table }] : [])]
  })
}

/**
 * First characters that make a spreadsheet read a CSV cell as a formula (tab and carriage
 * return too: some spreadsheets drop them and read what follows).
 */
const FORMULA_START = /^[=+\-@\t\r]/

/**
 * A string cell as CSV text, defused: one that a spreadsheet would run as a formula
 * (`=HYPERLINK("http://evil", …)`, `=cmd|' /C calc'!A0`, `+1+1`, `@SUM(1)`) gets a leading
 * `'`, so it opens as the text it is. Defends against CSV injection: a customer's name is
 * written by anyone with a socket and opened by whoever exports. A number is written as it
 * is (`-5` is a number, not a formula); XLSX and Sheets write typed cells and need no prefix.
 */
export function csvText(cell: Cell): string {
  if (typeof cell !== 'string') return String(cell)
  return FORMULA_START.test(cell) ? `'${cell}` : cell
}

/** Every cell as text (CSV). */
export const textRow = (row: Cell[]): string[] => row.map(csvText)
