/**
 * Retrying calls to a rate-limited API: exponential backoff with full jitter, honouring
 * the server's `Retry-After`, bounded in attempts.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { RetryReason } from './JobQueue.js'

export interface RetryPolicy {
  /** Attempts in all, the first included. @default 6 */
  maxAttempts: number
  /** First backoff. @default 1000 */
  baseDelayMs: number
  /** Longest single wait, Retry-After included. @default 60000 */
  maxDelayMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 60_000 }

/** How a failed attempt is to be treated. */
export type Verdict = { retry: false } | { retry: true; reason: RetryReason; retryAfterMs?: number }

/** A failed attempt about to be followed by attempt `attempt` of `of`, after `delayMs`. */
export interface RetryWait {
  attempt: number
  of: number
  reason: RetryReason
  delayMs: number
}

export interface RetryOptions {
  signal?: AbortSignal
  /** Told before each wait, and with null once an attempt after a wait went through. */
  onWait?: (wait: RetryWait | null) => void
}

/** Full jitter: a random wait in [0, base * 2^attempt], at least the server's Retry-After. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt)
  const jittered = Math.floor(random() * exponential)
  return Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0))
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** The last error and how many attempts were made, when retries ran out. */
export class RetriesExhausted extends Error {
  constructor(
    readonly attempts: number,
    readonly last: unknown,
  ) {
    super(`gave up after ${attempts} attempts`)
  }
}

/**
 * Calls `fn` until it succeeds, `judge` says not to retry (the error is rethrown), or
 * `maxAttempts` ran out (RetriesExhausted).
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  judge: (error: unknown) => Verdict,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await fn()
      if (attempt > 0) options.onWait?.(null)
      return result
    } catch (error) {
      const verdict = judge(error)
      if (!verdict.retry) throw error
      if (attempt + 1 >= policy.maxAttempts) throw new RetriesExhausted(attempt + 1, error)
      const delayMs = backoffMs(policy, attempt, verdict.retryAfterMs)
      options.onWait?.({ attempt: attempt + 2, of: policy.maxAttempts, reason: verdict.reason, delayMs })
      await sleep(delayMs, undefined, { signal: options.signal })
    }
  }
}
