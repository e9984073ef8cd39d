/**
 * Prometheus metrics of one server (prom-client, on its own Registry so two servers in
 * one process — tests, the simulator — never share counters). The sync layer sees only
 * the small `SyncMetrics` interface; reservations and jobs use the counters directly.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { COLLECTIONS } from '../../shared/collections.js'
import { RETRY_REASONS } from '../jobs/JobQueue.js'

/** What the sync layer (rooms, registry) reports. All calls are cheap and synchronous. */
export interface SyncMetrics {
  /** A client's document update arrived (before validation). */
  updateIn(bytes: number): void
  /** Persisted updates were sent to `peers` sockets (`bytes` in all). */
  broadcast(peers: number, bytes: number): void
  /** One flush wrote `updates` updates of `docs` documents in `seconds`. */
  persisted(docs: number, updates: number, seconds: number): void
  /** The validation gate reverted part of a client's transaction. */
  revert(reason: RevertReason): void
}

export const REVERT_REASONS = ['invalid', 'authority', 'read-only', 'server-only'] as const
export type RevertReason = (typeof REVERT_REASONS)[number]
/** Why the server dropped a sync socket: it answered no ping, or it did not read what it was sent. */
export const DROP_REASONS = ['unresponsive', 'slow'] as const
export type DropReason = (typeof DROP_REASONS)[number]
export const RESERVATION_OUTCOMES = ['confirmed', 'conflict', 'pending', 'released'] as const
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const

/** Gauges read at scrape time from the live server. */
export interface MetricsSources {
  connections(): number
  loadedDocuments(): number
  /** Distinct users with an open socket. */
  usersOnline(): number
  /** Jobs this server runs now. */
  jobsRunning(): number
  /** Jobs waiting in the queue (the database's, shared by every member). */
  jobsQueued(): Promise<number>
}

export const SIGN_IN_REFUSALS = ['credentials', 'throttled'] as const

/** Seconds; persist of one flush is usually well under a millisecond on an SSD. */
const PERSIST_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
/** Seconds; a request answered from memory takes about a millisecond, an export's download may take seconds. */
const HTTP_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** The `route` label of a request no route matched (a 404, a static file, a refused sign-in): never the raw path, which anyone can vary. */
export const UNMATCHED_ROUTE = '(unmatched)'
const FANOUT_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
const EVENT_LOOP_RESOLUTION_MS = 10
/**
 * The event-loop delay is measured over fixed windows, not "since the previous read": the
 * admin console and Prometheus both read the gauge, and neither may reset the other's figure.
 */
export const EVENT_LOOP_WINDOW_MS = 10_000

export class Metrics implements SyncMetrics {
  readonly registry = new Registry()
  readonly updatesIn: Counter
  readonly bytesIn: Counter
  readonly updatesOut: Counter
  readonly bytesOut: Counter
  readonly persistSeconds: Histogram
  readonly persistedUpdates: Counter
  readonly fanout: Histogram
  readonly reverts: Counter<'reason'>
  /** `metrics.overwrites.inc({ collection })` once per field two people set concurrently (one value lost). */
  readonly overwrites: Counter<'collection'>
  /** `metrics.reservationDecisions.inc({ outcome: 'confirmed' | 'conflict' | ... })` */
  readonly reservationDecisions: Counter<'outcome'>
  /** `metrics.jobs.inc({ status })` on every status a job enters. */
  readonly jobs: Counter<'status' | 'kind'>
  /** `metrics.jobRetries.inc({ kind })` when a job is queued again after its server stopped while it ran. */
  readonly jobRetries: Counter<'kind'>
  /**
   * `metrics.jobRetryReasons.inc({ target, reason })` on every retry of a job: a request tried again
   * (`quota`, `unavailable`, `network`) or the whole job queued again after its server stopped (`restarted`).
   */
  readonly jobRetryReasons: Counter<'target' | 'reason'>
  readonly httpRequests: Counter<'method' | 'status'>
  /** Per route template (`/api/records/:collection/:id`), so a slow figure names the endpoint; see `httpAnswered`. */
  readonly httpSeconds: Histogram<'method' | 'route' | 'status'>
  /** `metrics.socketsDropped.inc({ reason })` when the server drops a socket without a close handshake. */
  readonly socketsDropped: Counter<'reason'>
  /** `metrics.signInRefusals.inc({ reason })`: wrong e-mail or password (`credentials`), or too many failures (`throttled`). */
  readonly signInRefusals: Counter<'reason'>
  private readonly loopDelay: IntervalHistogram
  private readonly loopWindow: NodeJS.Timeout
  private lastWindowLoopP99 = 0

  constructor(sources?: MetricsSources) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers })
    this.updatesIn = counter('accord_updates_in_total', 'Document updates received from clients')
    this.bytesIn = counter('accord_update_bytes_in_total', 'Bytes of document updates received from clients')
    this.updatesOut = counter('accord_updates_out_total', 'Update messages sent to clients (one per socket)')
    this.bytesOut = counter('accord_update_bytes_out_total', 'Bytes of update messages sent to clients')
    this.persistedUpdates = counter('accord_persisted_updates_total', 'Updates appended to the SQLite log')
    this.reverts = counter('accord_validation_reverts_total', 'Client changes reverted by the server', ['reason'])
    this.overwrites = counter(
      'accord_overwrites_total',
      'Fields two people set concurrently, neither having seen the other value; one value was kept',
      ['collection'],
    )
    this.reservationDecisions = counter('accord_reservation_decisions_total', 'Calendar reservation decisions', ['outcome'])
    this.jobs = counter('accord_export_jobs_total', 'Export/import jobs entering a status', ['status', 'kind'])
    this.jobRetries = counter('accord_export_job_retries_total', 'Jobs queued again after their server stopped while they ran', ['kind'])
    this.jobRetryReasons = counter(
      'accord_job_retries_total',
      'Job retries by target (csv, xlsx, sheets, import) and reason (quota, unavailable, network: a request tried again; restarted: the job run again)',
      ['target', 'reason'],
    )
    this.httpRequests = counter('accord_http_requests_total', 'HTTP requests answered', ['method', 'status'])
    this.socketsDropped = counter(
      'accord_sockets_dropped_total',
      'Sync sockets the server dropped: unresponsive (no answer to a ping) or slow (too much queued)',
      ['reason'],
    )
    this.signInRefusals = counter(
      'accord_sign_in_refusals_total',
      'Sign-ins refused: wrong e-mail or password (credentials), or too many recent failures (throttled)',
      ['reason'],
    )
    this.persistSeconds = new Histogram({
      name: 'accord_persist_seconds',
      help: 'Time to write one flush (one SQLite transaction) to disk',
      buckets: PERSIST_BUCKETS_S,
      registers,
    })
    this.httpSeconds = new Histogram({
      name: 'accord_http_request_duration_seconds',
      help: 'Time from receiving an HTTP request to sending the last byte of its answer, by route template',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS_S,
      registers,
    })
    this.fanout = new Histogram({
      name: 'accord_broadcast_fanout',
      help: 'Sockets one persisted batch of a document was broadcast to',
      buckets: FANOUT_BUCKETS,
      registers,
    })
    for (const reason of REVERT_REASONS) this.reverts.inc({ reason }, 0)
    for (const collection of COLLECTIONS) this.overwrites.inc({ collection }, 0)
    for (const outcome of RESERVATION_OUTCOMES) this.reservationDecisions.inc({ outcome }, 0)
    for (const status of JOB_STATUSES) this.jobs.inc({ status, kind: 'export' }, 0)
    this.jobRetries.inc({ kind: 'export' }, 0)
    for (const reason of RETRY_REASONS) this.jobRetryReasons.inc({ target: 'sheets', reason }, 0)
    for (const reason of DROP_REASONS) this.socketsDropped.inc({ reason }, 0)
    for (const reason of SIGN_IN_REFUSALS) this.signInRefusals.inc({ reason }, 0)

    this.loopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
    this.loopDelay.enable()
    const loop = this.loopDelay
    this.loopWindow = setInterval(() => {
      this.lastWindowLoopP99 = loop.percentile(99) / 1e9
      loop.reset()
    }, EVENT_LOOP_WINDOW_MS)
    this.loopWindow.unref()
    const metrics = this
    new Gauge({
      name: 'accord_event_loop_delay_p99_seconds',
      help: `p99 event-loop delay over the last ${EVENT_LOOP_WINDOW_MS / 1000} s window (the current one while the first is not over)`,
      registers,
      collect() {
        // The window going on counts too once it is worse: a stall shows at once, not 10 s later.
        this.set(Math.max(metrics.lastWindowLoopP99, loop.percentile(99) / 1e9))
      },
    })
    if (sources) this.observe(sources)
  }

  /** Registers the gauges read from the live server at scrape time. */
  private observe(sources: MetricsSources): void {
    const registers = [this.registry]
    new Gauge({
      name: 'accord_connections',
      help: 'Open sync WebSocket connections',
      registers,
      collect() {
        this.set(sources.connections())
      },
    })
    new Gauge({
      name: 'accord_loaded_documents',
      help: 'Documents loaded in memory',
      registers,
      collect() {
        this.set(sources.loadedDocuments())
      },
    })
    new Gauge({
      name: 'accord_users_online',
      help: 'Distinct users with an open sync connection',
      registers,
      collect() {
        this.set(sources.usersOnline())
      },
    })
    new Gauge({
      name: 'accord_jobs_running',
      help: 'Export and import jobs this server runs now',
      registers,
      collect() {
        this.set(sources.jobsRunning())
      },
    })
    new Gauge({
      name: 'accord_jobs_queued',
      help: 'Export and import jobs waiting in the queue (shared by every member of a cluster)',
      registers,
      async collect() {
        // A database that does not answer keeps the last figure: the rest of the scrape still goes out.
        const queued = await sources.jobsQueued().catch(() => undefined)
        if (queued !== undefined) this.set(queued)
      },
    })
  }

  /**
   * `accord_cluster_lease_live` (1 or 0) for a cluster member: a member whose lease lapsed
   * serves no writes (readiness fails) while it still runs, which only this gauge shows to an alert.
   */
  observeLease(live: () => boolean): void {
    new Gauge({
      name: 'accord_cluster_lease_live',
      help: 'Whether this cluster member holds a live lease and may write (1) or not (0)',
      registers: [this.registry],
      collect() {
        this.set(live() ? 1 : 0)
      },
    })
  }

  /** One HTTP request answered; `route` is its template or `UNMATCHED_ROUTE`. */
  httpAnswered(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, status: String(status) })
    this.httpSeconds.observe({ method, route, status: String(status) }, seconds)
  }

  updateIn(bytes: number): void {
    this.updatesIn.inc()
    this.bytesIn.inc(bytes)
  }

  broadcast(peers: number, bytes: number): void {
    this.fanout.observe(peers)
    if (peers === 0) return
    this.updatesOut.inc(peers)
    this.bytesOut.inc(bytes)
  }

  persisted(_docs: number, updates: number, seconds: number): void {
    this.persistSeconds.observe(seconds)
    this.persistedUpdates.inc(updates)
  }

  revert(reason: RevertReason): void {
    this.reverts.inc({ reason })
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** Stops the event-loop monitor. */
  close(): void {
    clearInterval(this.loopWindow)
    this.loopDelay.disable()
  }
}
