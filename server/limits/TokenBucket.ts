/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`; each
 * event takes one, or as many as it weighs (bytes). Pure apart from the injected clock.
 *
 * An event heavier than the burst could never find that many tokens: it goes once the
 * bucket is full and leaves it in debt, which the refill pays back before the next event.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst
    this.last = now()
  }

  /** Takes `count` tokens; false when there are too few (the caller is over its rate). */
  take(count = 1): boolean {
    if (this.msUntil(count) > 0) return false
    this.tokens -= count
    return true
  }

  /** Milliseconds until `take(count)` would succeed; 0 when it would now. */
  msUntil(count = 1): number {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond)
    this.last = now
    const missing = Math.min(count, this.burst) - this.tokens
    return missing <= 0 ? 0 : Math.ceil((missing / this.ratePerSecond) * 1000)
  }
}
