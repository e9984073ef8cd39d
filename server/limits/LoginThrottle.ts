/**
 * Limits sign-in attempts per account (the e-mail as typed, whether or not it exists) and
 * per client address over a fixed window. Defends against password guessing and
 * credential stuffing; because unknown and known e-mails are counted alike and the check
 * runs before any lookup, the answer never reveals whether an e-mail exists.
 *
 * An attempt counts against both limits when it starts, in the same transaction as the
 * check: checking before the (asynchronous) password hash and counting after it let any
 * number of concurrent guesses through while none had failed yet. A success takes its own
 * attempt back from both counts, so in effect failures and attempts still running are
 * counted, and people signing in from one address (an office behind one NAT) do not use
 * up its limit; the failures before a success stay counted until their window ends, so a
 * success cannot wipe guesses running alongside it.
 *
 * The counts are rows of `login_attempts`, so a restart does not reset them; a row lives
 * one window and expired ones are deleted as attempts come in, so the table holds at most
 * the keys attempted within one window.
 */
import type { Transaction } from 'better-sqlite3'
import type { Db } from '../store/openDatabase.js'

export interface LoginThrottleOptions {
  /** Attempts per account within a window; the next one answers 429. */
  attemptsPerAccount: number
  /** Attempts per client address within a window. */
  attemptsPerAddress: number
  windowMs: number
  now?: () => number
}

/** A started attempt: the window of each key it was counted in, to take it back from on success. */
export interface LoginAttempt {
  readonly counted: readonly { key: string; windowStart: number }[]
}

/** Either the attempt was counted and may go on, or the caller must wait `retryAfterMs`. */
export type AttemptStart = { ok: true; attempt: LoginAttempt } | { ok: false; retryAfterMs: number }

interface Row {
  attempts: number
  window_start: number
}

export class LoginThrottle {
  private readonly now: () => number
  private readonly startTx: Transaction<(email: string, address: string) => AttemptStart>
  private readonly refundTx: (attempt: LoginAttempt) => void

  constructor(db: Db, options: LoginThrottleOptions) {
    this.now = options.now ?? Date.now
    const refund = db.prepare('UPDATE login_attempts SET attempts = attempts - 1 WHERE key = ? AND window_start = ? AND attempts > 0')
    this.refundTx = db.transaction((attempt: LoginAttempt) => {
      for (const { key, windowStart } of attempt.counted) refund.run(key, windowStart)
    })
    const prune = db.prepare('DELETE FROM login_attempts WHERE window_start <= ?')
    const read = db.prepare('SELECT attempts, window_start FROM login_attempts WHERE key = ?')
    const count = db.prepare(
      `INSERT INTO login_attempts (key, attempts, window_start) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1`,
    )
    this.startTx = db.transaction((email: string, address: string): AttemptStart => {
      const now = this.now()
      prune.run(now - options.windowMs)
      const keys = [
        { key: accountKey(email), max: options.attemptsPerAccount },
        { key: addressKey(address), max: options.attemptsPerAddress },
      ]
      let retryAfterMs = 0
      const rows = keys.map(({ key, max }) => {
        const row = read.get(key) as Row | undefined
        if (row && row.attempts >= max) retryAfterMs = Math.max(retryAfterMs, row.window_start + options.windowMs - now, 1)
        return row
      })
      if (retryAfterMs > 0) return { ok: false, retryAfterMs }
      for (const { key } of keys) count.run(key, now)
      return { ok: true, attempt: { counted: keys.map(({ key }, i) => ({ key, windowStart: rows[i]?.window_start ?? now })) } }
    })
  }

  /** Counts an attempt against the account and the address, unless either is at its limit. */
  start(email: string, address: string): AttemptStart {
    // Immediate: the check and the count hold the write lock together, against other connections too (the writer thread, a CLI).
    return this.startTx.immediate(email, address)
  }

  /** A successful sign-in takes its attempt back (from the windows it was counted in, if still current). */
  succeeded(attempt: LoginAttempt): void {
    this.refundTx(attempt)
  }
}

const accountKey = (email: string) => `account:${email.trim().toLowerCase()}`
const addressKey = (address: string) => `address:${address}`
