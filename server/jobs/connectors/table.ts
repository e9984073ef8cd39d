/**
 * Records as spreadsheet rows, the same for every export target, and back (imports).
 * Pure.
 */
import { type Collection, type FieldValues, HAS_ITEMS, fieldNames } from '../../../shared/collections.js'
import type { ApiRecord } from '../../records/RecordReads.js'

/** A cell as written: strings, numbers and booleans; empty string for "no value". */
export type Cell = string | number | boolean

/** Authority values shown in exports (read-only; ignored on import). */
const AUTHORITY_COLUMNS: Record<Collection, readonly string[]> = {
  customers: [],
  leads: [],
  deals: [],
  proposals: [],
  invoices: ['number'],
  events: ['reservation'],
}

/** Columns written by exports and ignored by imports. */
export const READ_ONLY_COLUMNS = new Set(['id', 'updatedAt', 'updatedBy', 'collection', 'number', 'reservation'])

export function headerOf(collection: Collection): string[] {
  return [
    'id',
    ...fieldNames(collection),
    'notes',
    ...(HAS_ITEMS[collection] ? ['items'] : []),
    ...AUTHORITY_COLUMNS[collection],
    'updatedAt',
  ]
}

export function cellOf(value: unknown): Cell {
  if (value === undefined || value === null) return ''
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(', ')
  return JSON.stringify(value)
}

export function rowOf(collection: Collection, record: ApiRecord): Cell[] {
  return headerOf(collection).map((column) => {
    const value = (record as FieldValues)[column]
    if (column === 'reservation' && value && typeof value === 'object') return cellOf((value as { status?: unknown }).status)
    return cellOf(value)
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
