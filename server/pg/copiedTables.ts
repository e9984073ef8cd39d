/**
 * What `accord migrate-from-sqlite` copies (server/pg/copyFromSqlite.ts): every SQLite table
 * of server/store/openDatabase.ts, in an order where a row's references exist before it.
 *
 * A PostgreSQL table keeps the SQLite table's name and columns, so most columns are copied
 * by name, converted by their PostgreSQL type alone (see `byNameColumn`). Where a table
 * differs, its entry says how: `derived` columns are computed from SQLite columns that
 * PostgreSQL does not have (`sources`). A column in neither place, on either side, stops the
 * copy before anything is written, so a column added on one side only is never dropped
 * silently.
 */

export interface CopiedTable {
  /** The same on both sides. */
  readonly name: string
  /** SQLite columns read only to compute `derived` ones, with their PostgreSQL element type in transit. */
  readonly sources?: Readonly<Record<string, string>>
  /** PostgreSQL columns computed by an SQL expression over the row's SQLite columns (quoted, by their SQLite names). */
  readonly derived?: Readonly<Record<string, string>>
  /** SQLite columns PostgreSQL has no use for: not copied. */
  readonly ignored?: readonly string[]
}

/** A PostgreSQL-only table filled from tables copied before it, and the SQLite query counting the rows it must end with. */
export interface FilledTable {
  readonly name: string
  readonly fill: string
  readonly expected: string
}

/** Milliseconds since the epoch as `timestamptz`, exact to the millisecond (interval arithmetic, not floating point). */
export const msToTimestamptz = (column: string) => `('epoch'::timestamptz + ${column} * interval '1 millisecond')`

const MS = { start_ms: 'bigint', end_ms: 'bigint' } as const

export const COPIED_TABLES: readonly CopiedTable[] = [
  // accounts (PostgreSQL migration 4)
  { name: 'workspaces' },
  { name: 'users' },
  { name: 'sessions' },
  { name: 'login_attempts' },
  // documents (migration 3)
  { name: 'doc_updates' },
  { name: 'doc_snapshots' },
  { name: 'doc_clients' },
  { name: 'history' },
  // The row's log position: on PostgreSQL a row is written with its updates, so it has none.
  { name: 'records', ignored: ['log_seq'] },
  // the reservation ledger (migration 1): SQLite keeps milliseconds and JSON, PostgreSQL
  // `timestamptz`, a `tstzrange` and `text[]`. A released decision holds no interval (SQLite
  // stores 0, 0), and no decide call made the copied decisions: their key names the copy.
  {
    name: 'reservations',
    sources: MS,
    derived: {
      start_at: `CASE WHEN "status" = 'released' THEN NULL ELSE ${msToTimestamptz('"start_ms"')} END`,
      end_at: `CASE WHEN "status" = 'released' THEN NULL ELSE ${msToTimestamptz('"end_ms"')} END`,
      decision_key: `'migrate-from-sqlite'`,
    },
  },
  {
    name: 'reservation_slots',
    sources: MS,
    derived: { during: `tstzrange(${msToTimestamptz('"start_ms"')}, ${msToTimestamptz('"end_ms"')}, '[)')` },
  },
  // invoice numbers and notices (migration 5)
  { name: 'invoice_counters' },
  { name: 'invoice_numbers' },
  { name: 'pending_notices' },
  // jobs (migration 2; the timestamps are `timestamptz`) and their state (migration 6)
  { name: 'jobs' },
  { name: 'sheet_state' },
  { name: 'import_keys' },
  // the spreadsheets users and workspaces sync to (migration 11)
  { name: 'sheet_targets' },
  // invite links (migration 12)
  { name: 'invites' },
  // saved list views (migration 13)
  { name: 'saved_views' },
]

/**
 * `docs`: the last number given out in each document's log (PgDocStore). SQLite numbers all
 * logs with one sequence; the copied numbers stay (each document's still increase), and a
 * document continues after the larger of its last update and its snapshot's `upto`, so a
 * new update is never numbered at or below either.
 */
export const FILLED_TABLES: readonly FilledTable[] = [
  {
    name: 'docs',
    fill: `INSERT INTO docs (doc, last_seq)
      SELECT doc, max(seq) FROM (SELECT doc, seq FROM doc_updates UNION ALL SELECT doc, upto FROM doc_snapshots) AS logs GROUP BY doc`,
    expected: 'SELECT count(*) AS n FROM (SELECT doc FROM doc_updates UNION SELECT doc FROM doc_snapshots)',
  },
]

/** How a column copied by name travels: its element type in the `unnest` arrays, and the expression that makes the PostgreSQL value. */
export function byNameColumn(column: string, pgType: string): { type: string; expr: string } {
  const c = `"${column}"`
  switch (pgType) {
    case 'timestamp with time zone':
      return { type: 'bigint', expr: msToTimestamptz(c) }
    case 'boolean':
      return { type: 'bigint', expr: `(${c} <> 0)` }
    case 'json':
    case 'jsonb':
      return { type: 'text', expr: `${c}::${pgType}` }
    case 'text[]':
      return { type: 'text', expr: `CASE WHEN ${c} IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text(${c}::json)) END` }
    default:
      return { type: pgType, expr: c }
  }
}
