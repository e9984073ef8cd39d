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
 * The counts are rows of `login_attempts` (a `ThrottleStore`: SQLite, or PostgreSQL shared by
 * every process), so a restart does not reset them; a row lives one window and expired ones
 * are deleted as attempts come in, so the table holds at most the keys attempted within one
 * window.
 */
import type { AttemptStart, LoginAttempt, ThrottleStore } from './ThrottleStore.js'

export type { AttemptStart, LoginAttempt } from './ThrottleStore.js'

export interface LoginThrottleOptions {
  /** Attempts per account within a window; the next one answers 429. */
  attemptsPerAccount: number
  /** Attempts per client address within a window. */
  attemptsPerAddress: number
  windowMs: number
  now?: () => number
}

export class LoginThrottle {
  private readonly now: () => number

  constructor(
    private readonly store: ThrottleStore,
    private readonly options: LoginThrottleOptions,
  ) {
    this.now = options.now ?? Date.now
  }

  /** Counts an attempt against the account and the address, unless either is at its limit. */
  start(email: string, address: string): Promise<AttemptStart> {
    const keys = [
      { key: accountKey(email), max: this.options.attemptsPerAccount },
      { key: addressKey(address), max: this.options.attemptsPerAddress },
    ]
    return this.store.start(keys, this.now(), this.options.windowMs)
  }

  /** A successful sign-in takes its attempt back (from the windows it was counted in, if still current). */
  succeeded(attempt: LoginAttempt): Promise<void> {
    return this.store.refund(attempt.counted)
  }
}

const accountKey = (email: string) => `account:${email.trim().toLowerCase()}`
const addressKey = (address: string) => `address:${address}`
