/**
 * One transaction on a connection of its own, the way every PostgreSQL writer of Accord
 * runs one.
 */
import type { Pool, PoolClient } from './openPool.js'
import { queryTimedOut } from './retry.js'

/** Errors `inTransaction` got from opening its connection. */
const connectFailures = new WeakSet<object>()

/**
 * Whether `inTransaction` failed with `error` before anything reached the server: no
 * connection could be opened (the server is down or unreachable, or the pool is exhausted).
 */
export function failedToConnect(error: unknown): boolean {
  return typeof error === 'object' && error !== null && connectFailures.has(error)
}

/**
 * Runs `work` between BEGIN and COMMIT and returns its result; on any error rolls back and
 * rethrows it. A connection that broke on the way, or whose query timed out (the server
 * may still be running it: a ROLLBACK would only wait behind it), is destroyed rather than
 * handed back; closing it ends the transaction on the server, unless a COMMIT already sent
 * lands first.
 *
 * While checked out, a connection that drops emits `error` on its client, which the pool
 * does not listen to (it does only for idle ones): without the listener here, a server
 * restart in the middle of a transaction would crash the process instead of failing the
 * transaction's queries.
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect().catch((error: unknown) => {
    if (typeof error === 'object' && error !== null) connectFailures.add(error)
    throw error
  })
  let broken = false
  const onError = () => {
    broken = true
  }
  client.on('error', onError)
  try {
    await client.query('BEGIN')
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    if (queryTimedOut(error)) broken = true
    if (!broken) await client.query('ROLLBACK').catch(onError)
    throw error
  } finally {
    client.off('error', onError)
    client.release(broken)
  }
}
