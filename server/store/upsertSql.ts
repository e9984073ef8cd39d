/**
 * The SQL of a projection row's upsert (see `ProjectionRow`), the same on SQLite and
 * PostgreSQL but for the placeholders.
 */
import type { ProjectionRow, SqlValue } from './DocStore.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

/** How a store's driver numbers parameters: `?` (SQLite) or `$1, $2, …` (PostgreSQL). */
export type Placeholders = 'question' | 'dollar'

/**
 * `INSERT … ON CONFLICT (key) DO UPDATE` for a projection row whose values are bound in the
 * order of `columns`. Table and column names come from trusted code and are checked to be
 * plain identifiers anyway, since they are spliced into the SQL.
 */
export function upsertSql(row: ProjectionRow, columns: readonly string[], placeholders: Placeholders = 'question'): string {
  for (const name of [row.table, ...columns]) if (!IDENTIFIER.test(name)) throw new Error(`not a SQL identifier: ${name}`)
  const updated = columns.filter((c) => !row.key.includes(c) && !row.insertOnly?.includes(c))
  const set = updated.map((c) => {
    if (row.increment?.includes(c)) return `${c} = ${row.table}.${c} + excluded.${c}`
    if (row.keepIfNull?.includes(c)) return `${c} = COALESCE(excluded.${c}, ${row.table}.${c})`
    return `${c} = excluded.${c}`
  })
  const values = columns.map((_, i) => (placeholders === 'dollar' ? `$${i + 1}` : '?'))
  return (
    `INSERT INTO ${row.table} (${columns.join(', ')}) VALUES (${values.join(', ')}) ` +
    `ON CONFLICT (${row.key.join(', ')}) DO ${set.length > 0 ? `UPDATE SET ${set.join(', ')}` : 'NOTHING'}`
  )
}

/** What distinguishes one upsert statement from another: table, columns and the column rules. */
export function upsertShape(row: ProjectionRow, columns: readonly string[]): string {
  return [`${row.table}(${columns.join()})`, row.key, row.insertOnly, row.keepIfNull, row.increment]
    .map((part) => part?.toString())
    .join('|')
}

/**
 * A projection value as every store keeps it: U+0000 (NUL) becomes U+FFFD. PostgreSQL's text
 * cannot hold a NUL (the append would fail, and with it every other document of its commit),
 * and a row reads the same on every backend.
 */
export function storedValue(value: SqlValue | undefined): SqlValue {
  return typeof value === 'string' && value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : (value ?? null)
}

/** The values of `row` for its upsert, in the order of `columns`, as stored. */
export function upsertValues(row: ProjectionRow, columns: readonly string[]): SqlValue[] {
  return columns.map((c) => storedValue(row.values[c]))
}
