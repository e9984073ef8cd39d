/**
 * The admin console's figures (`GET /api/admin/overview`), read from the same prom-client
 * registry that `/metrics` exposes: nothing here counts anything itself, so the console and
 * Prometheus can never disagree. Every `SAMPLE_EVERY_MS` a point of the last hour's series is
 * taken (rates and latency quantiles over that step, from the counters' and histograms'
 * differences), kept in memory only: a restarted server starts a new hour.
 */
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client'
import type { OverviewPoint } from '../../shared/overview.js'
import type { DocumentInUse } from '../sync/SyncEndpoint.js'

export type { OverviewPoint }

export const SAMPLE_EVERY_MS = 10_000
/** One hour of points. */
export const SERIES_POINTS = 360
const BUSIEST_DOCUMENTS = 10

export interface OverviewSources {
  registry: Registry
  busiestDocuments(limit: number): DocumentInUse[]
  /** The cluster member's label, or null for a lone server. */
  node: string | null
}

type Values = MetricValue<string>[]
type Snapshot = Map<string, Values>

/** The families the overview reads; the event-loop gauge is read-only (see Metrics), the others have no side effect. */
const FAMILIES = [
  'accord_connections',
  'accord_users_online',
  'accord_loaded_documents',
  'accord_updates_in_total',
  'accord_persist_seconds',
  'accord_validation_reverts_total',
  'accord_overwrites_total',
  'accord_reservation_decisions_total',
  'accord_sign_in_refusals_total',
  'accord_export_jobs_total',
  'accord_job_retries_total',
  'accord_jobs_queued',
  'accord_jobs_running',
  'accord_event_loop_delay_p99_seconds',
  'accord_http_request_duration_seconds',
  'process_resident_memory_bytes',
  // prom-client sets the used heap when it collects the total: read first.
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_size_used_bytes',
] as const
type Family = (typeof FAMILIES)[number]

export class Overview {
  private readonly series: OverviewPoint[] = []
  private previous: Snapshot | null = null
  private timer: NodeJS.Timeout | null = null
  private sampling: Promise<void> = Promise.resolve()

  constructor(
    private readonly sources: OverviewSources,
    private readonly options: { everyMs?: number; onError?: (error: unknown) => void } = {},
  ) {}

  /** Takes the first point now, then one every step. */
  start(): void {
    if (this.timer) return
    const sample = () => {
      this.sampling = this.sample().catch((error: unknown) => this.options.onError?.(error))
    }
    sample()
    this.timer = setInterval(sample, this.options.everyMs ?? SAMPLE_EVERY_MS)
    this.timer.unref()
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.sampling
  }

  private async snapshot(): Promise<Snapshot> {
    const snapshot: Snapshot = new Map()
    for (const name of FAMILIES) {
      const metric = this.sources.registry.getSingleMetric(name)
      if (!metric) continue
      const read = (await metric.get()) as MetricObjectWithValues<MetricValue<string>>
      // Copies: a counter's values are its live objects, which later increments change in place.
      snapshot.set(
        name,
        read.values.map((value) => ({ ...value, labels: { ...value.labels } })),
      )
    }
    return snapshot
  }

  private async sample(): Promise<void> {
    const now = await this.snapshot()
    const previous = this.previous
    this.previous = now
    if (!previous) return
    this.series.push(pointOf(now, previous, this.options.everyMs ?? SAMPLE_EVERY_MS))
    if (this.series.length > SERIES_POINTS) this.series.splice(0, this.series.length - SERIES_POINTS)
  }

  /** The figures now (since the server started, gauges as of now) and the series of the last hour. */
  async current(): Promise<Record<string, unknown>> {
    const now = await this.snapshot()
    const v = (family: Family, labels: Record<string, string> = {}) => sum(now, family, labels)
    const commit = quantiles(now, 'accord_persist_seconds', {})
    return {
      node: this.sources.node,
      at: Date.now(),
      sampleEveryMs: this.options.everyMs ?? SAMPLE_EVERY_MS,
      connections: v('accord_connections'),
      usersOnline: v('accord_users_online'),
      loadedDocuments: v('accord_loaded_documents'),
      updatesIn: v('accord_updates_in_total'),
      updatesPerSecond: this.series.at(-1)?.updatesPerSecond ?? 0,
      commitSeconds: { count: commit.count, p50: commit.p50, p99: commit.p99 },
      reverts: byLabel(now, 'accord_validation_reverts_total', 'reason'),
      overwrites: byLabel(now, 'accord_overwrites_total', 'collection'),
      bookings: byLabel(now, 'accord_reservation_decisions_total', 'outcome'),
      signIns: byLabel(now, 'accord_sign_in_refusals_total', 'reason'),
      jobs: {
        queued: v('accord_jobs_queued'),
        running: v('accord_jobs_running'),
        entered: byLabel(now, 'accord_export_jobs_total', 'status'),
        retries: (now.get('accord_job_retries_total') ?? [])
          .filter((value) => value.value > 0)
          .map((value) => ({ target: value.labels.target, reason: value.labels.reason, count: value.value })),
      },
      eventLoopDelayP99Seconds: v('accord_event_loop_delay_p99_seconds'),
      memory: { residentBytes: v('process_resident_memory_bytes'), heapUsedBytes: v('nodejs_heap_size_used_bytes') },
      http: httpRoutes(now),
      busiestDocuments: this.sources.busiestDocuments(BUSIEST_DOCUMENTS),
      series: this.series,
    }
  }
}

function matches(value: MetricValue<string>, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, want]) => String(value.labels[k]) === want)
}

/** The sum of a family's series (a histogram's `_count`) whose labels include `labels`. */
function sum(snapshot: Snapshot, family: string, labels: Record<string, string>): number {
  let total = 0
  for (const value of snapshot.get(family) ?? []) {
    const metricName = (value as { metricName?: string }).metricName
    if ((metricName === undefined || metricName === `${family}_count`) && matches(value, labels)) total += value.value
  }
  return total
}

function byLabel(snapshot: Snapshot, family: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const value of snapshot.get(family) ?? []) {
    const key = String(value.labels[label])
    out[key] = (out[key] ?? 0) + value.value
  }
  return out
}

interface Buckets {
  count: number
  /** Upper bounds ascending, with the cumulative count at each. */
  bounds: [number, number][]
}

function bucketsOf(snapshot: Snapshot, family: string, labels: Record<string, string>): Buckets {
  const bounds = new Map<number, number>()
  let count = 0
  for (const value of snapshot.get(family) ?? []) {
    if (!matches(value, labels)) continue
    const metricName = (value as { metricName?: string }).metricName
    if (metricName === `${family}_bucket`) {
      const le = value.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(value.labels.le)
      bounds.set(le, (bounds.get(le) ?? 0) + value.value)
    } else if (metricName === `${family}_count`) count += value.value
  }
  return { count, bounds: [...bounds].sort((a, b) => a[0] - b[0]) }
}

function minus(now: Buckets, before: Buckets): Buckets {
  const earlier = new Map(before.bounds)
  return { count: now.count - before.count, bounds: now.bounds.map(([le, n]) => [le, n - (earlier.get(le) ?? 0)]) }
}

/**
 * The q-quantile of a histogram, interpolated linearly inside its bucket as Prometheus's
 * `histogram_quantile` does; the highest finite bound when it falls in the `+Inf` bucket.
 */
export function quantileOf(buckets: Buckets, q: number): number | null {
  if (buckets.count <= 0) return null
  const rank = q * buckets.count
  let lowerBound = 0
  let lowerCount = 0
  for (const [le, cumulative] of buckets.bounds) {
    if (cumulative >= rank) {
      if (le === Number.POSITIVE_INFINITY) return lowerBound
      const inBucket = cumulative - lowerCount
      return inBucket === 0 ? le : lowerBound + ((le - lowerBound) * (rank - lowerCount)) / inBucket
    }
    lowerBound = le
    lowerCount = cumulative
  }
  return lowerBound
}

function quantiles(snapshot: Snapshot, family: string, labels: Record<string, string>, before?: Snapshot) {
  let buckets = bucketsOf(snapshot, family, labels)
  if (before) buckets = minus(buckets, bucketsOf(before, family, labels))
  return { count: buckets.count, p50: quantileOf(buckets, 0.5), p99: quantileOf(buckets, 0.99) }
}

/** Requests per method and route template since the start, with their latency quantiles. */
function httpRoutes(snapshot: Snapshot) {
  const family = 'accord_http_request_duration_seconds'
  const routes = new Map<string, { method: string; route: string }>()
  for (const value of snapshot.get(family) ?? []) {
    const { method, route } = value.labels as { method: string; route: string }
    routes.set(`${method} ${route}`, { method, route })
  }
  return [...routes.values()]
    .map(({ method, route }) => {
      const { count, p50, p99 } = quantiles(snapshot, family, { method, route })
      const errors = (snapshot.get(family) ?? [])
        .filter((v) => (v as { metricName?: string }).metricName === `${family}_count` && matches(v, { method, route }))
        .filter((v) => Number(v.labels.status) >= 500)
        .reduce((n, v) => n + v.value, 0)
      return { method, route, count, errors, p50Seconds: p50, p99Seconds: p99 }
    })
    .sort((a, b) => b.count - a.count)
}

function pointOf(now: Snapshot, before: Snapshot, stepMs: number): OverviewPoint {
  const v = (family: Family, labels: Record<string, string> = {}) => sum(now, family, labels)
  const delta = (family: Family, labels: Record<string, string> = {}) => Math.max(0, v(family, labels) - sum(before, family, labels))
  const commit = quantiles(now, 'accord_persist_seconds', {}, before)
  return {
    at: Date.now(),
    connections: v('accord_connections'),
    usersOnline: v('accord_users_online'),
    loadedDocuments: v('accord_loaded_documents'),
    updatesPerSecond: delta('accord_updates_in_total') / (stepMs / 1000),
    commitP50Seconds: commit.p50,
    commitP99Seconds: commit.p99,
    reverts: delta('accord_validation_reverts_total'),
    overwrites: delta('accord_overwrites_total'),
    bookingConflicts: delta('accord_reservation_decisions_total', { outcome: 'conflict' }),
    signInRefusals: delta('accord_sign_in_refusals_total'),
    jobsQueued: v('accord_jobs_queued'),
    jobsRunning: v('accord_jobs_running'),
    jobRetries: delta('accord_job_retries_total'),
    jobsSucceeded: delta('accord_export_jobs_total', { status: 'succeeded' }),
    jobsFailed: delta('accord_export_jobs_total', { status: 'failed' }),
    eventLoopDelayP99Seconds: v('accord_event_loop_delay_p99_seconds'),
    residentMemoryBytes: v('process_resident_memory_bytes'),
    heapUsedBytes: v('nodejs_heap_size_used_bytes'),
  }
}
