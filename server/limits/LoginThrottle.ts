/**
 * Counts failed sign-ins per account (the e-mail as typed, whether or not it exists)
 * and per client address over a fixed window. Defends against password guessing and
 * credential stuffing; because unknown and known e-mails are counted alike and the
 * check runs before any lookup, the answer never reveals whether an e-mail exists.
 * Memory is bounded: past `MAX_TRACKED_KEYS` the oldest entries are forgotten.
 */

/** Keys kept at most (accounts plus addresses). */
export const MAX_TRACKED_KEYS = 50_000

export interface LoginThrottleOptions {
  failuresPerAccount: number
  failuresPerAddress: number
  windowMs: number
  now?: () => number
}

interface Entry {
  failures: number
  windowStart: number
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>()
  private readonly now: () => number

  constructor(private readonly options: LoginThrottleOptions) {
    this.now = options.now ?? Date.now
  }

  /** Milliseconds until the caller may try again, or 0 when it may try now. */
  retryAfterMs(email: string, address: string): number {
    const account = this.wait(accountKey(email), this.options.failuresPerAccount)
    const client = this.wait(addressKey(address), this.options.failuresPerAddress)
    return Math.max(account, client)
  }

  /** Records a failed attempt against both the account and the address. */
  failed(email: string, address: string): void {
    this.bump(accountKey(email))
    this.bump(addressKey(address))
  }

  /** A successful sign-in clears the account's failures (not the address's). */
  succeeded(email: string): void {
    this.entries.delete(accountKey(email))
  }

  private wait(key: string, max: number): number {
    const entry = this.current(key)
    if (!entry || entry.failures < max) return 0
    return Math.max(1, entry.windowStart + this.options.windowMs - this.now())
  }

  private current(key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry && this.now() - entry.windowStart >= this.options.windowMs) {
      this.entries.delete(key)
      return undefined
    }
    return entry
  }

  private bump(key: string): void {
    const entry = this.current(key)
    if (entry) {
      entry.failures++
      return
    }
    if (this.entries.size >= MAX_TRACKED_KEYS) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
    this.entries.set(key, { failures: 1, windowStart: this.now() })
  }
}

const accountKey = (email: string) => `account:${email.trim().toLowerCase()}`
const addressKey = (address: string) => `address:${address}`
