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

/**
 * The kind a simulator REST call is reported under, from its method and path: the per-kind
 * figures tell a slow booking (the authority) from a slow create or export.
 */
export function restKindOf(method: string, path: string): string {
  const [, , area, collection, id] = path.split('?')[0]!.split('/')
  if (area === 'exports') return method === 'POST' ? 'export' : 'export status'
  if (area !== 'records') return `${method} /api/${area ?? ''}`
  if (method === 'POST') return collection === 'events' ? 'booking' : 'create'
  if (method === 'PATCH') return 'patch'
  return id === undefined ? 'list' : 'read'
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
