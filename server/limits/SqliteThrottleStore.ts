/**
 * The sign-in counts in the SQLite database. The check and the count are one IMMEDIATE
 * transaction: it takes the write lock before reading, so no other connection (the writer
 * thread, a CLI) counts in between.
 */
import type { Transaction } from 'better-sqlite3'
import type { Db } from '../store/openDatabase.js'
import { type AttemptStart, type CountedAttempt, type ThrottleKey, type ThrottleStore, retryAfterMs } from './ThrottleStore.js'

interface Row {
  attempts: number
  window_start: number
}

export class SqliteThrottleStore implements ThrottleStore {
  private readonly startTx: Transaction<(keys: readonly ThrottleKey[], now: number, windowMs: number) => AttemptStart>
  private readonly refundTx: (counted: readonly CountedAttempt[]) => void

  constructor(db: Db) {
    const refund = db.prepare('UPDATE login_attempts SET attempts = attempts - 1 WHERE key = ? AND window_start = ? AND attempts > 0')
    this.refundTx = db.transaction((counted: readonly CountedAttempt[]) => {
      for (const { key, windowStart } of counted) refund.run(key, windowStart)
    })
    const prune = db.prepare('DELETE FROM login_attempts WHERE window_start <= ?')
    const read = db.prepare('SELECT attempts, window_start FROM login_attempts WHERE key = ?')
    const count = db.prepare(
      `INSERT INTO login_attempts (key, attempts, window_start) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1`,
    )
    this.startTx = db.transaction((keys: readonly ThrottleKey[], now: number, windowMs: number): AttemptStart => {
      prune.run(now - windowMs)
      let wait = 0
      const rows = keys.map(({ key, max }) => {
        const row = read.get(key) as Row | undefined
        if (row && row.attempts >= max) wait = Math.max(wait, retryAfterMs(row.window_start, windowMs, now))
        return row
      })
      if (wait > 0) return { ok: false, retryAfterMs: wait }
      for (const { key } of keys) count.run(key, now)
      return { ok: true, attempt: { counted: keys.map(({ key }, i) => ({ key, windowStart: rows[i]?.window_start ?? now })) } }
    })
  }

  async start(keys: readonly ThrottleKey[], now: number, windowMs: number): Promise<AttemptStart> {
    return this.startTx.immediate(keys, now, windowMs)
  }

  async refund(counted: readonly CountedAttempt[]): Promise<void> {
    this.refundTx(counted)
  }
}
