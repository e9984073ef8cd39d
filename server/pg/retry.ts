/**
 * What a failed PostgreSQL transaction tells its caller, for the writers that try again:
 * whether it certainly rolled back, and how long to wait before the next try.
 */

/** Lost to a deadlock (`40P01`) or a serialization check (`40001`): rolled back, safe to run again. */
export const RETRY_CODES: ReadonlySet<string> = new Set(['40P01', '40001'])

/** The SQLSTATE of a server error; '' for anything else (a broken connection, a refused one). */
export function sqlState(error: unknown): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : ''
}

/**
 * Whether a transaction that failed with `error` may or may not have committed: the
 * connection broke (no SQLSTATE, or a connection-class one: 08xxx, or 57P01–57P03 when the
 * server was shut down or the backend terminated). Any other server error is a rollback.
 */
export function outcomeUnknown(error: unknown): boolean {
  const code = sqlState(error)
  return code === '' || code.startsWith('08') || /^57P0[123]$/.test(code)
}

/**
 * Waits before try `attempt + 1`: a random time up to `baseMs · 2^(attempt − 1)`, and never
 * more than `capMs` (full jitter, capped: a long run of lost races waits a bounded time).
 */
export function backoff(attempt: number, baseMs: number, capMs = 500): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(capMs, baseMs * 2 ** (attempt - 1))))
}

/**
 * Whether a query failed because the server did not answer it in time on the client's side
 * (node-postgres's `query_timeout`): the server may still be running it, or be about to, so
 * its connection cannot be used again, and a COMMIT given up so may yet commit.
 */
export function queryTimedOut(error: unknown): boolean {
  return (error as { message?: unknown }).message === 'Query read timeout' && sqlState(error) === ''
}

/**
 * Whether `error` says PostgreSQL could not be reached, went away or did not answer in time
 * (the query never ran, its connection broke, it timed out): a refused or reset socket, a
 * connection-class SQLSTATE, the server shutting down, a statement canceled by its timeout
 * (`57014`), or node-postgres giving up on a connection or a query. A request that failed so
 * is worth trying again later; one that failed for anything else is not.
 */
export function databaseUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|AI_AGAIN)$/.test(code)) return true
  const state = sqlState(error)
  if (state.startsWith('08') || /^57P0[123]$/.test(state) || state === '57014' || queryTimedOut(error)) return true
  const message = (error as { message?: unknown }).message
  return (
    state === '' &&
    typeof message === 'string' &&
    /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(message)
  )
}
