/**
 * A request quota, kept as a token bucket: `capacity` tokens, refilled continuously at
 * `perMinute`. `take()` waits for a token; waiters are served in arrival order. One quota per
 * Google credential, so every user sharing a service account shares its write quota. (The
 * sync endpoint's per-socket limit, server/limits/TokenBucket.ts, refuses instead of waiting.)
 */
export class RequestQuota {
  private tokens: number
  private last: number
  private readonly waiters: { resolve: () => void; reject: (error: unknown) => void; signal?: AbortSignal }[] = []
  private timer: NodeJS.Timeout | null = null

  constructor(
    /** Tokens added per minute (Sheets: 60 write requests per minute per user). */
    readonly perMinute: number,
    /** Burst size. @default perMinute */
    readonly capacity = perMinute,
    private readonly now: () => number = Date.now,
  ) {
    if (!(perMinute > 0) || !(capacity >= 1)) throw new RangeError('a request quota needs a positive rate and a capacity of at least 1')
    this.tokens = capacity
    this.last = now()
  }

  /** Resolves when a token was taken; rejects if `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    this.refill()
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, signal }
      this.waiters.push(waiter)
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          reject(signal.reason)
        },
        { once: true },
      )
      this.schedule()
    })
  }

  /** Tokens available now (for tests and metrics). */
  available(): number {
    this.refill()
    return this.tokens
  }

  private refill(): void {
    const now = this.now()
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.perMinute) / 60_000)
    this.last = now
  }

  private schedule(): void {
    if (this.timer) return
    this.refill()
    while (this.waiters.length > 0 && this.tokens >= 1) {
      this.tokens -= 1
      this.waiters.shift()!.resolve()
    }
    if (this.waiters.length === 0) return
    const waitMs = Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute)
    this.timer = setTimeout(() => {
      this.timer = null
      this.schedule()
    }, waitMs)
  }
}
