/**
 * Where the sign-in throttle keeps its counts (`login_attempts`: one row per key and window):
 * SQLite or PostgreSQL (server/backend.ts), so every process on one database counts against
 * the same limits. `LoginThrottle` names the keys and limits; a store checks and counts
 * atomically. One contract suite runs against every implementation
 * (test/authstore.contract.test.ts).
 */

/** A started attempt: the window of each key it was counted in, to take it back from on success. */
export interface LoginAttempt {
  readonly counted: readonly CountedAttempt[]
}

export interface CountedAttempt {
  key: string
  windowStart: number
}

/** Either the attempt was counted and may go on, or the caller must wait `retryAfterMs`. */
export type AttemptStart = { ok: true; attempt: LoginAttempt } | { ok: false; retryAfterMs: number }

/** A key and how many attempts its window allows. */
export interface ThrottleKey {
  key: string
  max: number
}

export interface ThrottleStore {
  /**
   * One atomic step, against every other caller on the database: unless a key already has
   * `max` attempts in its current window, counts one attempt against every key (a key
   * without a current window starts one at `now`); if one has, counts nothing and says how
   * long until the latest such window ends. Windows ended by `now` (started at or before
   * `now - windowMs`) count as none, and their rows are deleted.
   */
  start(keys: readonly ThrottleKey[], now: number, windowMs: number): Promise<AttemptStart>
  /** Takes one attempt back from each window it was counted in, if that window is still the key's. */
  refund(counted: readonly CountedAttempt[]): Promise<void>
}

/** How long until a window that started at `windowStart` ends: at least 1 ms (it has not). */
export function retryAfterMs(windowStart: number, windowMs: number, now: number): number {
  return Math.max(windowStart + windowMs - now, 1)
}
