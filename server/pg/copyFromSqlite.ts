/**
 * Copies a SQLite installation into an empty PostgreSQL database (`accord migrate-from-sqlite`):
 * every table of server/pg/copiedTables.ts, column by column, in ONE PostgreSQL transaction
 * read from ONE SQLite read transaction. Either everything arrives, with every table's row
 * count checked against SQLite's, or nothing does.
 *
 * Rows travel in batches, each one `INSERT … SELECT … FROM unnest($1::type[], …)`: a few
 * statements per thousand rows instead of one per row.
 */
import type { Db } from '../store/openDatabase.js'
import { COPIED_TABLES, type CopiedTable, FILLED_TABLES, byNameColumn } from './copiedTables.js'
import { inTransaction } from './inTransaction.js'
import { type PoolClient, type Pool, oneLine } from './openPool.js'

/** The copy did not start, or was rolled back: one line saying why. */
export class CopyError extends Error {}

export interface CopyOptions {
  /** Rows per insert at most. @default 2000 */
  batchRows?: number
  /** Bytes of text and blobs per insert, roughly, at most (one larger row goes alone). @default 8 MiB */
  batchBytes?: number
}

export interface CopyReport {
  /** Rows per table, equal on both sides, in copy order. */
  tables: { name: string; rows: number }[]
  ms: number
}

interface PgColumn {
  table: string
  column: string
  type: string
  not_null: boolean
  has_default: boolean
  identity: '' | 'a' | 'd'
  generated: '' | 's'
  sequence: string | null
}

/** How one table is copied: the SQLite columns read (with their type in transit) and the PostgreSQL columns written. */
interface Plan {
  table: string
  sources: { name: string; type: string }[]
  targets: { name: string; expr: string }[]
  overriding: boolean
  sequences: { column: string; sequence: string }[]
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

export async function copyFromSqlite(sqlite: Db, pool: Pool, options: CopyOptions = {}): Promise<CopyReport> {
  const started = Date.now()
  checkSqliteTables(sqlite)
  // One snapshot of the SQLite file for the whole copy: what a writer commits meanwhile is not half in it.
  sqlite.exec('BEGIN')
  try {
    const tables = await inTransaction(pool, async (client) => {
      const plans = planCopy(sqlite, await pgColumns(client))
      await refuseNonEmpty(client)
      for (const plan of plans) await copyTable(sqlite, client, plan, options)
      for (const filled of FILLED_TABLES) await client.query(filled.fill)
      for (const plan of plans) await advanceSequences(sqlite, client, plan)
      return verifyCounts(sqlite, client)
    })
    return { tables, ms: Date.now() - started }
  } finally {
    sqlite.exec('ROLLBACK')
  }
}

/** Every SQLite table must be in the list: one that is not would be left behind. */
function checkSqliteTables(sqlite: Db): void {
  const known = new Set(COPIED_TABLES.map((t) => t.name))
  const unknown = sqlite
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all()
    .map((row) => row.name)
    .filter((name) => !known.has(name))
  if (unknown.length > 0)
    throw new CopyError(
      `the SQLite database has tables this accord cannot copy (${unknown.join(', ')}); nothing copied: run a newer accord`,
    )
}

/** The columns of every listed table that PostgreSQL has; a table it lacks stops the copy. */
async function pgColumns(client: PoolClient): Promise<Map<string, PgColumn[]>> {
  const names = [...COPIED_TABLES, ...FILLED_TABLES].map((t) => t.name)
  const { rows } = await client.query<PgColumn>(
    `SELECT t.name AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       a.atthasdef AS has_default, a.attidentity AS identity, a.attgenerated AS generated,
       pg_get_serial_sequence(quote_ident(t.name), a.attname) AS sequence
     FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n)
     JOIN pg_attribute a ON a.attrelid = to_regclass(quote_ident(t.name)) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY t.n, a.attnum`,
    [names],
  )
  const columns = new Map<string, PgColumn[]>()
  for (const row of rows) columns.set(row.table, [...(columns.get(row.table) ?? []), row])
  const missing = names.filter((name) => !columns.has(name))
  if (missing.length > 0)
    throw new CopyError(`this accord's PostgreSQL schema has no table ${missing.join(', ')}; nothing copied: run a newer accord`)
  return columns
}

function planCopy(sqlite: Db, pgColumnsOf: Map<string, PgColumn[]>): Plan[] {
  return COPIED_TABLES.map((table) => planTable(table, sqliteColumns(sqlite, table.name), pgColumnsOf.get(table.name)!))
}

function sqliteColumns(sqlite: Db, table: string): string[] {
  return (sqlite.pragma(`table_info(${quote(table)})`) as { name: string }[]).map((c) => c.name)
}

/**
 * Pairs the columns of both sides. A PostgreSQL column that is required and has no source,
 * or a SQLite column that goes nowhere, is a schema the list does not describe: refused.
 */
function planTable(table: CopiedTable, fromSqlite: string[], pg: PgColumn[]): Plan {
  const name = table.name
  const sqliteSet = new Set(fromSqlite)
  const sources = Object.entries(table.sources ?? {}).map(([source, type]) => ({ name: source, type }))
  const targets: Plan['targets'] = []
  for (const column of pg) {
    if (column.generated !== '') continue
    const derived = table.derived?.[column.column]
    if (derived !== undefined) {
      targets.push({ name: column.column, expr: derived })
    } else if (sqliteSet.has(column.column)) {
      const { type, expr } = byNameColumn(column.column, column.type)
      sources.push({ name: column.column, type })
      targets.push({ name: column.column, expr })
    } else if (column.not_null && !column.has_default && column.identity === '') {
      throw new CopyError(`PostgreSQL column ${name}.${column.column} has no SQLite column to copy from; nothing copied`)
    }
  }
  const read = new Set([...sources.map((s) => s.name), ...(table.ignored ?? [])])
  const lost = fromSqlite.filter((column) => !read.has(column))
  if (lost.length > 0)
    throw new CopyError(`SQLite column ${lost.map((c) => `${name}.${c}`).join(', ')} has no PostgreSQL column to go to; nothing copied`)
  const missing = [...read].filter((column) => !sqliteSet.has(column))
  if (missing.length > 0) throw new CopyError(`the SQLite table ${name} has no column ${missing.join(', ')}; nothing copied`)
  const copied = new Set(targets.map((t) => t.name))
  return {
    table: name,
    sources,
    targets,
    overriding: pg.some((c) => c.identity !== '' && copied.has(c.column)),
    sequences: pg.filter((c) => c.sequence !== null && copied.has(c.column)).map((c) => ({ column: c.column, sequence: c.sequence! })),
  }
}

/** Takes the tables for the transaction (no writer slips in between the check and the copy) and refuses any row. */
async function refuseNonEmpty(client: PoolClient): Promise<void> {
  const names = [...COPIED_TABLES, ...FILLED_TABLES].map((t) => t.name)
  await client.query(`LOCK TABLE ${names.map(quote).join(', ')} IN SHARE ROW EXCLUSIVE MODE`)
  const { rows } = await client.query<{ name: string }>(
    names.map((name) => `SELECT '${name}' AS name WHERE EXISTS (SELECT 1 FROM ${quote(name)})`).join(' UNION ALL '),
  )
  if (rows.length > 0)
    throw new CopyError(
      `the PostgreSQL database is not empty (${rows.map((r) => r.name).join(', ')} hold rows); migrate-from-sqlite copies into an empty database only`,
    )
}

async function copyTable(sqlite: Db, client: PoolClient, plan: Plan, options: CopyOptions): Promise<void> {
  const batchRows = options.batchRows ?? 2000
  const batchBytes = options.batchBytes ?? 8 * 1024 * 1024
  const text = `INSERT INTO ${quote(plan.table)} (${plan.targets.map((t) => quote(t.name)).join(', ')})
    ${plan.overriding ? 'OVERRIDING SYSTEM VALUE' : ''}
    SELECT ${plan.targets.map((t) => t.expr).join(', ')}
    FROM unnest(${plan.sources.map((s, i) => `$${i + 1}::${s.type}[]`).join(', ')}) AS s(${plan.sources.map((s) => quote(s.name)).join(', ')})`
  const columns: unknown[][] = plan.sources.map(() => [])
  let rows = 0
  let bytes = 0
  const flush = async () => {
    if (rows === 0) return
    try {
      await client.query({ name: `copy-${plan.table}`, text, values: columns })
    } catch (error) {
      throw new CopyError(`copying ${plan.table} failed, nothing copied: ${oneLine(error)}`)
    }
    for (const column of columns) column.length = 0
    rows = 0
    bytes = 0
  }
  const select = sqlite.prepare(`SELECT ${plan.sources.map((s) => quote(s.name)).join(', ')} FROM ${quote(plan.table)}`).raw()
  for (const row of select.iterate() as Iterable<unknown[]>) {
    for (let i = 0; i < row.length; i++) {
      const value = row[i]
      columns[i]!.push(value)
      bytes += typeof value === 'string' ? value.length : value instanceof Uint8Array ? value.byteLength : 8
    }
    rows++
    if (rows >= batchRows || bytes >= batchBytes) await flush()
  }
  await flush()
}

/**
 * An identity or serial column continues after the largest number copied, and after the
 * largest SQLite ever gave out (AUTOINCREMENT never reuses a number, even of a deleted row).
 */
async function advanceSequences(sqlite: Db, client: PoolClient, plan: Plan): Promise<void> {
  const given = sqlite.prepare<[string], { seq: number }>('SELECT seq FROM sqlite_sequence WHERE name = ?').get(plan.table)?.seq ?? 0
  for (const { column, sequence } of plan.sequences) {
    await client.query(
      `SELECT setval($1, greatest(max(${quote(column)}), $2::bigint), true) FROM ${quote(plan.table)}
       HAVING greatest(max(${quote(column)}), $2::bigint) > 0`,
      [sequence, given],
    )
  }
}

/** Each table's row count on both sides, inside the transaction: a difference rolls everything back. */
async function verifyCounts(sqlite: Db, client: PoolClient): Promise<CopyReport['tables']> {
  const counted: CopyReport['tables'] = []
  const expected = [
    ...COPIED_TABLES.map((t) => ({ name: t.name, sql: `SELECT count(*) AS n FROM ${quote(t.name)}` })),
    ...FILLED_TABLES.map((t) => ({ name: t.name, sql: t.expected })),
  ]
  for (const { name, sql } of expected) {
    const want = sqlite.prepare<[], { n: number }>(sql).get()!.n
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${quote(name)}`)
    if (rows[0]!.n !== want)
      throw new CopyError(`${name} has ${rows[0]!.n} rows on PostgreSQL after the copy and ${want} in SQLite; nothing copied`)
    counted.push({ name, rows: want })
  }
  return counted
}
