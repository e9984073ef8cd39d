/**
 * The sign-in counts in PostgreSQL (`login_attempts`, migration 4), shared by every process
 * on the database. Behaves exactly as `SqliteThrottleStore` (one contract suite runs against
 * both).
 *
 * The check and the count are one statement per key: an upsert whose `DO UPDATE … WHERE`
 * adds the attempt only while the key is under its limit (or its window has ended, which
 * starts a new one). PostgreSQL evaluates that condition on the latest committed row, under
 * the row's lock, so two processes racing for a key's last attempt cannot both get it: the
 * second waits for the first to commit and then sees the key at its limit. The keys of one
 * attempt are counted in one transaction, rolled back when any is at its limit (a refused
 * attempt counts nowhere). Keys are locked in the order given (the account, then the
 * address), and refunds take one key at a time, so no two callers wait for each other in a
 * cycle.
 *
 * Rows of ended windows are deleted by a statement of their own before the transaction,
 * skipping rows another attempt holds: deleting them inside it would hold their locks to
 * the end and could deadlock with an attempt counting against one of them.
 */
import { inTransaction } from '../pg/inTransaction.js'
import type { Pool } from '../pg/openPool.js'
import { type AttemptStart, type CountedAttempt, type ThrottleKey, type ThrottleStore, retryAfterMs } from './ThrottleStore.js'

const SQL = {
  prune: `DELETE FROM login_attempts WHERE key IN (
      SELECT key FROM login_attempts WHERE window_start <= $1 FOR UPDATE SKIP LOCKED
    )`,
  // $1 key, $2 now, $3 the end of windows that ended (now - windowMs), $4 the key's limit.
  count: `INSERT INTO login_attempts AS a (key, attempts, window_start) VALUES ($1, 1, $2)
    ON CONFLICT (key) DO UPDATE SET
      attempts = CASE WHEN a.window_start <= $3 THEN 1 ELSE a.attempts + 1 END,
      window_start = CASE WHEN a.window_start <= $3 THEN excluded.window_start ELSE a.window_start END
    WHERE a.window_start <= $3 OR a.attempts < $4
    RETURNING window_start`,
  windowOf: 'SELECT window_start FROM login_attempts WHERE key = $1',
  refund: 'UPDATE login_attempts SET attempts = attempts - 1 WHERE key = $1 AND window_start = $2 AND attempts > 0',
} as const

/** Thrown inside the transaction to roll back the counts of a refused attempt. */
class Refused {
  constructor(readonly retryAfterMs: number) {}
}

export class PgThrottleStore implements ThrottleStore {
  constructor(private readonly pool: Pool) {}

  async start(keys: readonly ThrottleKey[], now: number, windowMs: number): Promise<AttemptStart> {
    const ended = now - windowMs
    await this.pool.query({ name: 'throttle-prune', text: SQL.prune, values: [ended] })
    try {
      return await inTransaction(this.pool, async (client) => {
        const counted: CountedAttempt[] = []
        const atLimit: string[] = []
        for (const { key, max } of keys) {
          const { rows } = await client.query<{ window_start: number }>({
            name: 'throttle-count',
            text: SQL.count,
            values: [key, now, ended, max],
          })
          if (rows[0]) counted.push({ key, windowStart: rows[0].window_start })
          else atLimit.push(key)
        }
        if (atLimit.length === 0) return { ok: true, attempt: { counted } }
        let wait = 0
        for (const key of atLimit) {
          const { rows } = await client.query<{ window_start: number }>({ name: 'throttle-window', text: SQL.windowOf, values: [key] })
          wait = Math.max(wait, retryAfterMs(rows[0]!.window_start, windowMs, now))
        }
        throw new Refused(wait)
      })
    } catch (error) {
      if (error instanceof Refused) return { ok: false, retryAfterMs: error.retryAfterMs }
      throw error
    }
  }

  async refund(counted: readonly CountedAttempt[]): Promise<void> {
    for (const { key, windowStart } of counted) {
      await this.pool.query({ name: 'throttle-refund', text: SQL.refund, values: [key, windowStart] })
    }
  }
}
