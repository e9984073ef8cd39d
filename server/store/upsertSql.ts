/**
 * The SQL of projection rows' upserts (see `ProjectionRow`), with the same rules on SQLite
 * (one row per statement) and PostgreSQL (every row of one shape in one statement).
 */
import type { ProjectionRow, SqlValue } from './DocStore.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

/**
 * `INSERT … ON CONFLICT (key) DO UPDATE` for a projection row whose values are bound, as `?`,
 * in the order of `columns`. Table and column names come from trusted code and are checked
 * to be plain identifiers anyway, since they are spliced into the SQL.
 */
export function upsertSql(row: ProjectionRow, columns: readonly string[]): string {
  return `INSERT INTO ${row.table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ${onConflict(row, columns)}`
}

/**
 * The same upsert for many rows of one shape (no two with one key) in one PostgreSQL
 * statement: each column's values are one array parameter, `$first` for the first column
 * and so on, of the column's type (`types`, in the order of `columns`, as the catalog names
 * them).
 */
export function upsertManySql(row: ProjectionRow, columns: readonly string[], types: readonly string[], first: number): string {
  const arrays = columns.map((_, i) => `$${first + i}::${types[i]}[]`)
  return `INSERT INTO ${row.table} (${columns.join(', ')}) SELECT * FROM unnest(${arrays.join(', ')}) ${onConflict(row, columns)}`
}

function onConflict(row: ProjectionRow, columns: readonly string[]): string {
  for (const name of [row.table, ...columns]) if (!IDENTIFIER.test(name)) throw new Error(`not a SQL identifier: ${name}`)
  const updated = columns.filter((c) => !row.key.includes(c) && !row.insertOnly?.includes(c))
  const set = updated.map((c) => {
    if (row.increment?.includes(c)) return `${c} = ${row.table}.${c} + excluded.${c}`
    if (row.keepIfNull?.includes(c)) return `${c} = COALESCE(excluded.${c}, ${row.table}.${c})`
    return `${c} = excluded.${c}`
  })
  return `ON CONFLICT (${row.key.join(', ')}) DO ${set.length > 0 ? `UPDATE SET ${set.join(', ')}` : 'NOTHING'}`
}

/**
 * Applies the upsert of `row` to a row stored with its key, as the SQL does: columns
 * `insertOnly` keep their first value, `keepIfNull` their last one that was not null,
 * `increment` the sum of every value written, the others the last value written.
 */
export function applyUpsert(stored: Record<string, SqlValue>, row: ProjectionRow): void {
  for (const [column, value] of Object.entries(row.values)) {
    if (row.insertOnly?.includes(column) || row.key.includes(column)) continue
    if (value === null && row.keepIfNull?.includes(column)) continue
    stored[column] = row.increment?.includes(column) ? Number(stored[column]) + Number(value) : value
  }
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

/** The values of `row` in the order of `columns`, as stored. */
export function upsertValues(row: ProjectionRow, columns: readonly string[]): SqlValue[] {
  return columns.map((c) => storedValue(row.values[c]))
}

/** `row` with its values as stored. */
export function storedRow(row: ProjectionRow): ProjectionRow {
  return { ...row, values: Object.fromEntries(Object.entries(row.values).map(([column, value]) => [column, storedValue(value)])) }
}

/** Projection rows of one shape, to be upserted in one statement: no two share a key. */
export interface ShapeBatch {
  /** The first row of the shape (its table, key and rules). */
  row: ProjectionRow
  columns: readonly string[]
  /** The rows' values, as stored. */
  rows: Record<string, SqlValue>[]
}

/**
 * Rows to upsert, in order, grouped for statements of many rows each with the same effect as
 * upserting them one by one: rows of one shape and key are merged into one (`applyUpsert`),
 * and a row whose key a row of another shape took in the same round starts the next round
 * (rounds are upserted one after the other, the shapes of one round together).
 */
export function upsertRounds(rows: readonly ProjectionRow[]): ShapeBatch[][] {
  const rounds: Map<string, { batch: ShapeBatch; byKey: Map<string, Record<string, SqlValue>> }>[] = []
  let keys = new Map<string, string>()
  for (const projection of rows) {
    const row = storedRow(projection)
    const columns = Object.keys(row.values)
    const shape = upsertShape(row, columns)
    const key = JSON.stringify([row.table, ...row.key.map((c) => row.values[c] ?? null)])
    const owner = keys.get(key)
    if (rounds.length === 0 || (owner !== undefined && owner !== shape)) {
      rounds.push(new Map())
      keys = new Map()
    }
    keys.set(key, shape)
    const round = rounds.at(-1)!
    let group = round.get(shape)
    if (!group) round.set(shape, (group = { batch: { row, columns, rows: [] }, byKey: new Map() }))
    const stored = group.byKey.get(key)
    if (stored) applyUpsert(stored, row)
    else {
      const values = { ...row.values }
      group.byKey.set(key, values)
      group.batch.rows.push(values)
    }
  }
  return rounds.map((round) => [...round.values()].map((group) => group.batch))
}
