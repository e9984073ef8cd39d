/**
 * The durable job queue behind exports and imports: embedded (SqliteJobQueue) or in
 * PostgreSQL, shared by every process (PgJobQueue).
 *
 * Rules every implementation keeps:
 * - [JQ1] at most one running job per (user, lane); a lane is `<kind>:<target>`;
 * - [JQ2] enqueueing a job whose coalesce key matches a still-queued job returns that job;
 * - [JQ3] a claimed job holds a lease; only the lease holder may renew it, report progress or finish it;
 *   a job whose lease expired (its process died) is queued again, or failed after `maxAttempts`;
 * - [JQ4] a queued job's position is its 1-based place among all queued jobs, in queue order;
 * - [JQ5] a job reads back as stored; finishing stores the outcome and drops the payload;
 * - [JQ6] releasing a held job queues it again in its old place.
 */

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]
export type JobKind = 'export' | 'import'
export const EXPORT_TARGETS = ['csv', 'xlsx', 'sheets'] as const
export type ExportTarget = (typeof EXPORT_TARGETS)[number]

export type JobCounts = Record<string, number>

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
  createdAt: number
  startedAt: number | null
  finishedAt: number | null
}

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
  /** The first `limit` queued jobs, in queue order. */
  queued(limit: number): Promise<StoredJob[]>
  /** 1-based place among queued jobs, or undefined if not queued. */
  position(id: string): Promise<number | undefined>
  payload(id: string): Promise<Buffer | null>
  /** Claims up to `max` runnable jobs for `worker`, honouring [JQ1]; increments their attempts. */
  claim(worker: string, max: number, leaseMs: number): Promise<StoredJob[]>
  /** Extends the leases of `ids` held by `worker`; resolves to the ids still held. */
  renew(worker: string, ids: string[], leaseMs: number): Promise<string[]>
  /** Stores a running job's counts; false if `worker` no longer holds it. */
  progress(id: string, worker: string, counts: JobCounts): Promise<boolean>
  /** Ends a job; false if `worker` no longer holds it (its result is then discarded). */
  finish(id: string, worker: string, outcome: JobOutcome): Promise<boolean>
  /** Puts a held job back in the queue (graceful shutdown); does nothing if `worker` no longer holds it. */
  release(id: string, worker: string): Promise<void>
  /** Re-queues running jobs whose lease expired; fails those past `maxAttempts`. Resolves to what changed. */
  recoverExpired(maxAttempts: number): Promise<StoredJob[]>
}

/** A job's lane: a user's jobs of one lane run one at a time [JQ1]. */
export const laneOf = (kind: JobKind, target: string) => `${kind}:${target}`

/** Why a job whose lease expired `maxAttempts` times was failed. */
export const abandonedError = (attempts: number) => `the server stopped while this job ran, ${attempts} times; gave up`

/** The job as the API and the inbox document show it (docs/api.md, "Jobs"). */
export interface JobJson {
  id: string
  kind: JobKind
  target: string
  status: JobStatus
  position?: number
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
  if (job.error) json.error = job.error
  if (job.kind === 'import') json.errors = job.errors
  if (job.startedAt !== null) json.startedAt = iso(job.startedAt)
  if (job.finishedAt !== null) json.finishedAt = iso(job.finishedAt)
  if (job.kind === 'export' && job.status === 'succeeded' && job.result?.file) json.file = `/api/exports/${job.id}/file`
  return json
}
