/** Latency samples and their percentiles (nearest-rank). Pure. */

export class LatencySamples {
  private readonly samples: number[] = []

  add(ms: number): void {
    this.samples.push(ms)
  }

  get count(): number {
    return this.samples.length
  }

  /** The p-th percentile (0–100) in ms, or null with no samples. */
  percentile(p: number): number | null {
    return percentile(this.samples, p)
  }

  summary(): { count: number; p50: number | null; p95: number | null; p99: number | null } {
    const sorted = [...this.samples].sort((a, b) => a - b)
    return {
      count: sorted.length,
      p50: percentileOfSorted(sorted, 50),
      p95: percentileOfSorted(sorted, 95),
      p99: percentileOfSorted(sorted, 99),
    }
  }
}

export function percentile(values: number[], p: number): number | null {
  return percentileOfSorted(
    [...values].sort((a, b) => a - b),
    p,
  )
}

function percentileOfSorted(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}
