/**
 * One transaction on a connection of its own, the way every PostgreSQL writer of Accord
 * runs one.
 */
import type { Pool, PoolClient } from './openPool.js'

/**
 * Runs `work` between BEGIN and COMMIT and returns its result; on any error rolls back and
 * rethrows it. A connection that broke on the way is destroyed rather than handed back.
 *
 * While checked out, a connection that drops emits `error` on its client, which the pool
 * does not listen to (it does only for idle ones): without the listener here, a server
 * restart in the middle of a transaction would crash the process instead of failing the
 * transaction's queries.
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
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
    if (!broken) await client.query('ROLLBACK').catch(onError)
    throw error
  } finally {
    client.off('error', onError)
    client.release(broken)
  }
}
