/**
 * A PostgreSQL connection pool from a `postgres://` URL (`ACCORD_DATABASE_URL`), checked
 * before it is handed out, so a wrong URL or a server that is down stops the caller at once
 * with one line instead of at the first query.
 */
import pg from 'pg'

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient

export interface PoolOptions {
  /** Connections open at most. @default 10 */
  max?: number
  /** How long opening one connection may take before it counts as unreachable, in ms. @default 5000 */
  connectTimeoutMs?: number
  /**
   * Errors of idle connections (the server restarted, the network dropped one). The pool
   * replaces such a connection; without a listener node-postgres would crash the process.
   */
  onError?: (error: Error) => void
  /** The server cancels a statement running longer (`statement_timeout`, SQLSTATE 57014). @default none */
  statementTimeoutMs?: number
  /** The server ends a session idle inside a transaction this long, releasing its locks (`idle_in_transaction_session_timeout`). @default none */
  idleInTransactionTimeoutMs?: number
  /**
   * A statement the server has not answered within this is given up on the client's side
   * (`Query read timeout`, see `queryTimedOut`) and its connection is not used again: the
   * server hangs, or the network to it is cut. @default none
   */
  queryTimeoutMs?: number
}

const INT8_OID = 20

/**
 * `bigint` columns read as numbers, not node-postgres's default strings: Accord's hold
 * milliseconds, sequence numbers and counts, far below 2^53, which code and tests compare
 * with numbers as they do SQLite's integers.
 */
const getTypeParser: typeof pg.types.getTypeParser = (oid: number, format?: 'text' | 'binary') =>
  oid === INT8_OID && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)

/** The server could not be reached, or refused the connection (one line, password left out). */
export class PgUnreachableError extends Error {}

/**
 * Opens a pool on `url` and runs one query through it.
 *
 * Every connection starts with `synchronous_commit = on`, whatever the database or role
 * default: a transaction the server answered COMMIT to is on its disk (and its synchronous
 * standbys'), which is what callers acknowledge to clients on.
 */
export async function openPool(url: string, options: PoolOptions = {}): Promise<Pool> {
  const shown = displayUrl(url)
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    options: '-c synchronous_commit=on',
    types: { getTypeParser },
    statement_timeout: options.statementTimeoutMs,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
    query_timeout: options.queryTimeoutMs,
  })
  pool.on('error', (error) => options.onError?.(error))
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    await pool.end().catch(() => {})
    throw new PgUnreachableError(`cannot connect to PostgreSQL at ${shown} (${oneLine(error)})`)
  }
  return pool
}

/**
 * `url` without its password, for messages; throws on anything but a `postgres://` or
 * `postgresql://` URL.
 */
export function displayUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new PgUnreachableError(`"${url}" is not a PostgreSQL URL (postgres://user@host:5432/database)`)
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new PgUnreachableError(`"${parsed.protocol}" is not a PostgreSQL URL scheme (postgres://user@host:5432/database)`)
  parsed.password = ''
  return parsed.toString()
}

/** An error as one line: node's AggregateError (every address refused) has an empty message. */
export function oneLine(error: unknown): string {
  const e = error as { message?: string; code?: string; errors?: unknown[] }
  const text =
    e.message || (Array.isArray(e.errors) && e.errors.length > 0 ? e.errors.map(oneLine).join('; ') : '') || e.code || String(error)
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
