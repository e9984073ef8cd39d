/**
 * The durable job queue behind exports and imports: embedded (SqliteJobQueue) or in
 * PostgreSQL, shared by every process (PgJobQueue).
 *
 * Rules every implementation keeps:
 * - [JQ1] at most one running job per (user, lane); a lane is `<kind>:<target>`;
 * - [JQ2] enqueueing a job whose coalesce key matches a still-queued job returns that job;
 * - [JQ3] a claimed job holds a lease; only the lease holder may renew it, report progress or finish it;
 *   a job whose lease expired (its process died) is queued again, or failed after `maxAttempts`;
 * - [JQ4] a queued job's position counts what will start before it (`queuePositions`): 1, plus the
 *   queued jobs of its own user and lane ahead of it, plus the other lanes ahead of it that wait
 *   only for a free runner (a queued job ahead of it, nothing running); a user's status lists
 *   their own running and queued jobs only;
 * - [JQ5] a job reads back as stored; finishing stores the outcome and drops the payload;
 * - [JQ6] releasing a held job queues it again in its old place;
 * - [JQ7] a running job's retry (a request waiting to be tried again) is stored by its lease
 *   holder only, and cleared when the job is claimed, finished, released or recovered;
 * - [JQ8] an admin may queue a failed job again (`requeue`: in its old place, its attempts kept,
 *   not an import whose upload was dropped) and cancel a queued or running job (`cancel`: it
 *   ends failed, `result.cancelled`, its lease taken away, so that its holder's next renewal,
 *   progress or finish finds it no longer holds it).
 */

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]
export type JobKind = 'export' | 'import'
export const EXPORT_TARGETS = ['csv', 'xlsx', 'sheets'] as const
export type ExportTarget = (typeof EXPORT_TARGETS)[number]

export type JobCounts = Record<string, number>

/** Why a request of a running job is waiting to be tried again: the API's quota (429), the API unavailable (5xx), no answer. */
export const RETRY_REASONS = ['quota', 'unavailable', 'network'] as const
export type RetryReason = (typeof RETRY_REASONS)[number]

/** A running job whose request failed and waits to be tried again: attempt `attempt` of `of`, at `nextAt` (ms). */
export interface JobRetry {
  attempt: number
  of: number
  reason: RetryReason
  nextAt: number
}

/** A problem with one line of an imported file. */
export interface LineError {
  line: number
  message: string
}

/** A job as stored. `params` and `result` are the handler's own JSON. */
export interface StoredJob {
  id: string
  seq: number
  workspace: string
  userId: string
  kind: JobKind
  target: string
  params: Record<string, unknown>
  status: JobStatus
  counts: JobCounts
  errors: LineError[]
  error: string | null
  result: Record<string, unknown> | null
  attempts: number
  /** Set while a request of the running job waits to be tried again [JQ7]. */
  retry: JobRetry | null
  createdAt: number
  startedAt: number | null
  finishedAt: number | null
}

/** A queued job and its position [JQ4]. */
export type QueuedJob = StoredJob & { position: number }

export interface NewJob {
  workspace: string
  userId: string
  kind: JobKind
  target: string
  params: Record<string, unknown>
  counts: JobCounts
  /** Jobs with the same key coalesce while queued; null never coalesces. */
  coalesceKey: string | null
  /** Input the job needs after a restart (an uploaded file). */
  payload?: Buffer
}

export interface JobOutcome {
  status: 'succeeded' | 'failed'
  counts: JobCounts
  errors?: LineError[]
  error?: string
  result?: Record<string, unknown>
}

/**
 * Every method is asynchronous, so that a queue in another process (PostgreSQL) fits behind it;
 * each call is atomic on its own, but two calls are not: callers must not assume that nothing
 * happened between them (test/jobqueue.contract.test.ts runs against every implementation).
 */
export interface JobQueue {
  enqueue(job: NewJob): Promise<{ job: StoredJob; coalesced: boolean }>
  get(id: string): Promise<StoredJob | undefined>
  /** The user's jobs of one kind, newest first. */
  list(userId: string, kind: JobKind, limit: number): Promise<StoredJob[]>
  /** The first `limit` queued jobs, in queue order, with their positions [JQ4]. */
  queued(limit: number): Promise<QueuedJob[]>
  /** The job's position [JQ4], or undefined if it is not queued. */
  position(id: string): Promise<number | undefined>
  /** The user's running and queued jobs (of every kind), in queue order; queued ones with their positions. */
  active(userId: string): Promise<(StoredJob | QueuedJob)[]>
  /** The user's job that finished last (of every kind), if any. */
  lastFinished(userId: string): Promise<StoredJob | undefined>
  payload(id: string): Promise<Buffer | null>
  /** Claims up to `max` runnable jobs for `worker`, honouring [JQ1]; increments their attempts. */
  claim(worker: string, max: number, leaseMs: number): Promise<StoredJob[]>
  /** Extends the leases of `ids` held by `worker`; resolves to the ids still held. */
  renew(worker: string, ids: string[], leaseMs: number): Promise<string[]>
  /** Stores a running job's counts; false if `worker` no longer holds it. */
  progress(id: string, worker: string, counts: JobCounts): Promise<boolean>
  /** Stores (or clears, with null) a running job's retry [JQ7]; false if `worker` no longer holds it. */
  retrying(id: string, worker: string, retry: JobRetry | null): Promise<boolean>
  /** Ends a job; false if `worker` no longer holds it (its result is then discarded). */
  finish(id: string, worker: string, outcome: JobOutcome): Promise<boolean>
  /** Puts a held job back in the queue (graceful shutdown); does nothing if `worker` no longer holds it. */
  release(id: string, worker: string): Promise<void>
  /** The workspace's jobs of the given statuses, newest first. */
  ofWorkspace(workspace: string, statuses: readonly JobStatus[], limit: number): Promise<StoredJob[]>
  /** Queues a failed job again [JQ8]; undefined if it is not failed (or is an import without its upload). */
  requeue(id: string): Promise<StoredJob | undefined>
  /** Ends a queued or running job as cancelled [JQ8]; undefined if it is neither. */
  cancel(id: string, error: string): Promise<StoredJob | undefined>
  /** Re-queues running jobs whose lease expired; fails those past `maxAttempts`. Resolves to what changed. */
  recoverExpired(maxAttempts: number): Promise<StoredJob[]>
}

/** A job's lane: a user's jobs of one lane run one at a time [JQ1]. */
export const laneOf = (kind: JobKind, target: string) => `${kind}:${target}`

/** What `queuePositions` needs of a job: its user and lane. */
export type UserLane = Pick<StoredJob, 'userId' | 'kind' | 'target'>

const laneKey = (job: UserLane) => `${job.userId}\u0000${laneOf(job.kind, job.target)}`

/**
 * The positions [JQ4] of `queued`, the queue's first jobs in queue order (a prefix of it), given
 * the (user, lane) pairs that have a job running. A job waits for the jobs of its own lane ahead
 * of it (one at a time), then for a free runner; the runners go to the oldest runnable job
 * first, one per lane. So another lane delays it when that lane has a job ahead of it and
 * nothing running; a lane with a job running holds a runner already and gets the one its job
 * frees, and the rest of another lane's jobs wait behind that lane's first. The same rule is
 * the SQL of each queue's `position`.
 */
export function queuePositions<J extends UserLane>(queued: readonly J[], running: Iterable<UserLane>): (J & { position: number })[] {
  const busy = new Set([...running].map(laneKey))
  const ahead = new Map<string, number>()
  let waitingLanes = 0
  return queued.map((job) => {
    const lane = laneKey(job)
    const own = ahead.get(lane) ?? 0
    const position = 1 + own + waitingLanes - (own > 0 && !busy.has(lane) ? 1 : 0)
    if (own === 0 && !busy.has(lane)) waitingLanes++
    ahead.set(lane, own + 1)
    return { ...job, position }
  })
}

/** Why a job whose lease expired `maxAttempts` times was failed. */
export const abandonedError = (attempts: number) => `the server stopped while this job ran, ${attempts} times; gave up`

/** The job as the API and the inbox document show it (docs/api.md, "Jobs"). */
export interface JobJson {
  id: string
  kind: JobKind
  target: string
  status: JobStatus
  position?: number
  /** While a request of the running job waits to be tried again; `nextAt` is an ISO instant. */
  retry?: { attempt: number; of: number; reason: RetryReason; nextAt: string }
  counts: JobCounts
  attempts: number
  error?: string
  errors?: LineError[]
  createdAt: string
  startedAt?: string
  finishedAt?: string
  [param: string]: unknown
}

/**
 * How far a job has got: it grows with every change of status (queued 0, running 1, then queued
 * again 2 or finished 2, running 3, …), so that a state read earlier can be told from a later one.
 */
export function jobStage(job: { status: JobStatus; attempts: number }): number {
  return job.status === 'running' ? 2 * job.attempts - 1 : 2 * job.attempts
}

const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString())

export function toJobJson(job: StoredJob, position?: number): JobJson {
  const json: JobJson = {
    ...job.params,
    id: job.id,
    kind: job.kind,
    target: job.target,
    status: job.status,
    counts: job.counts,
    attempts: job.attempts,
    createdAt: iso(job.createdAt)!,
  }
  if (position !== undefined && job.status === 'queued') json.position = position
  if (job.retry && job.status === 'running') json.retry = { ...job.retry, nextAt: iso(job.retry.nextAt)! }
  if (job.error) json.error = job.error
  if (job.kind === 'import') json.errors = job.errors
  if (job.startedAt !== null) json.startedAt = iso(job.startedAt)
  if (job.finishedAt !== null) json.finishedAt = iso(job.finishedAt)
  if (job.kind === 'export' && job.status === 'succeeded' && job.result?.file) json.file = `/api/exports/${job.id}/file`
  return json
}
