/**
 * The job queue in PostgreSQL, shared by every process of an installation (see JobQueue.ts
 * for the contract; it behaves exactly as `SqliteJobQueue`, and one contract suite runs
 * against both).
 *
 * The database keeps the rules (server/pg/migrations.ts): a partial unique index allows one
 * queued job per coalesce key [JQ2], another one running job per user and lane [JQ1]. Every
 * method is one statement, or one short READ COMMITTED transaction:
 *
 * - a claim picks the oldest queued job of every (user, lane) with nothing running and locks
 *   it `FOR UPDATE SKIP LOCKED`: claimers in other processes skip the rows another one is
 *   taking instead of waiting for it, and `status = 'queued'` is checked again on a row
 *   another claimer took meanwhile, so a job is never claimed twice. Should two claims still
 *   pick two jobs of one lane (each from its own snapshot), the unique index refuses the
 *   second (`23505`) and that claim is retried;
 * - enqueueing with a coalesce key inserts `ON CONFLICT DO NOTHING`, then reads the queued
 *   job that won; if that job was claimed in between, it inserts again;
 * - renew, progress, finish and release act only on rows whose `lease_owner` is the caller.
 *
 * Time: by default leases and timestamps follow PostgreSQL's clock (`now()`), not the
 * process's. Processes on several machines compare each other's leases; with one clock, a
 * process whose clock runs ahead cannot take a job whose holder is alive, nor one whose
 * clock runs behind keep a dead holder's job. Tests pass their own `now` instead.
 */
import { randomUUID } from 'node:crypto'
import { inTransaction } from '../pg/inTransaction.js'
import { numbered } from '../pg/numbered.js'
import type { Pool } from '../pg/openPool.js'
import {
  type JobCounts,
  type JobKind,
  type JobOutcome,
  type JobQueue,
  type JobRetry,
  type JobStatus,
  type NewJob,
  type QueuedJob,
  type StoredJob,
  abandonedError,
  laneOf,
} from './JobQueue.js'
import {
  CANCEL_SET,
  CANCEL_WHERE,
  REQUEUE_SET,
  REQUEUE_WHERE,
  LANE_BUSY_SQL,
  POSITION_SQL,
  type JobRow as Row,
  activeOf,
  activeSql,
  positionsOf,
  storedJobOf,
} from './jobRow.js'

export interface PgJobQueueOptions {
  /**
   * The clock of leases and timestamps, in ms since the epoch.
   * @default PostgreSQL's `now()` (one clock for every process)
   */
  now?: () => number
  /** Tries of one claim or enqueue that lost a race (see above) before its error is thrown. @default 5 */
  maxAttempts?: number
}

type JobRow = Row<unknown>

/** Whole ms, as the process's clock gives them (`timestamptz` keeps µs). */
const MS = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`
const COLUMNS = `seq::float8 AS seq, id, workspace, user_id, kind, target, params, status, counts, errors, error, result, attempts,
  retry, ${MS('created_at')}, ${MS('started_at')}, ${MS('finished_at')}`
/** `$1` of every statement that reads the clock: the injected time, or null for PostgreSQL's. */
const NOW = 'coalesce($1::timestamptz, now())'
const LEASE_UNTIL = (leaseMs: string) => `${NOW} + ${leaseMs}::integer * interval '1 millisecond'`

const SQL = {
  insert: `INSERT INTO jobs (id, workspace, user_id, kind, target, lane, params, coalesce_key, payload, status, counts, created_at)
    VALUES ($2, $3, $4, $5, $6, $7, $8::json, $9, $10, 'queued', $11::json, ${NOW})
    ON CONFLICT (coalesce_key) WHERE status = 'queued' AND coalesce_key IS NOT NULL DO NOTHING
    RETURNING ${COLUMNS}`,
  queuedByKey: `SELECT ${COLUMNS} FROM jobs WHERE coalesce_key = $1 AND status = 'queued'`,
  get: `SELECT ${COLUMNS} FROM jobs WHERE id = $1`,
  list: `SELECT ${COLUMNS} FROM jobs WHERE user_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT $3`,
  queued: `SELECT ${COLUMNS}, ${LANE_BUSY_SQL} FROM jobs j WHERE status = 'queued' ORDER BY seq LIMIT $1`,
  position: numbered(POSITION_SQL),
  active: numbered(activeSql(COLUMNS)),
  lastFinished: `SELECT ${COLUMNS} FROM jobs WHERE user_id = $1 AND status IN ('succeeded', 'failed')
    ORDER BY finished_at DESC, seq DESC LIMIT 1`,
  payload: 'SELECT payload FROM jobs WHERE id = $1',
  // The oldest queued job of every (user, lane) that has nothing running, oldest first.
  claim: `WITH picked AS (
      SELECT j.id AS pick FROM jobs j
      WHERE j.status = 'queued'
        AND j.seq = (SELECT min(q.seq) FROM jobs q WHERE q.status = 'queued' AND q.user_id = j.user_id AND q.lane = j.lane)
        AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.user_id = j.user_id AND r.lane = j.lane)
      ORDER BY j.seq
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $3, lease_until = ${LEASE_UNTIL('$4')},
      started_at = coalesce(started_at, ${NOW}), coalesce_key = NULL, retry = NULL
    FROM picked WHERE id = pick AND status = 'queued'
    RETURNING ${COLUMNS}`,
  renew: `UPDATE jobs SET lease_until = ${LEASE_UNTIL('$4')}
    WHERE id = ANY($2::text[]) AND lease_owner = $3 AND status = 'running' RETURNING id`,
  progress: `UPDATE jobs SET counts = $3::json WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
  retrying: `UPDATE jobs SET retry = $3::json WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
  finish: `UPDATE jobs SET status = $4, counts = $5::json, errors = $6::json, error = $7, result = $8::json, finished_at = ${NOW},
      lease_owner = NULL, lease_until = NULL, payload = NULL, retry = NULL
    WHERE id = $2 AND lease_owner = $3 AND status = 'running'`,
  release: `UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, retry = NULL
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
  ofWorkspace: `SELECT ${COLUMNS} FROM jobs WHERE workspace = $1 AND status = ANY($2::text[]) ORDER BY seq DESC LIMIT $3`,
  requeue: `UPDATE jobs SET ${REQUEUE_SET} WHERE id = $1 AND ${REQUEUE_WHERE} RETURNING ${COLUMNS}`,
  cancel: `UPDATE jobs SET ${CANCEL_SET}, finished_at = ${NOW}, error = $3 WHERE id = $2 AND ${CANCEL_WHERE} RETURNING ${COLUMNS}`,
  expired: `SELECT id, attempts FROM jobs WHERE status = 'running' AND lease_until < ${NOW} ORDER BY seq FOR UPDATE SKIP LOCKED`,
  // `$2`: the expired jobs; `$3`: why each one is failed, or null to queue it again.
  recover: `UPDATE jobs SET
      status = CASE WHEN f.gave_up IS NULL THEN 'queued' ELSE 'failed' END,
      error = coalesce(f.gave_up, error),
      finished_at = CASE WHEN f.gave_up IS NULL THEN finished_at ELSE ${NOW} END,
      payload = CASE WHEN f.gave_up IS NULL THEN payload END,
      lease_owner = NULL, lease_until = NULL, retry = NULL
    FROM unnest($2::text[], $3::text[]) AS f(job_id, gave_up)
    WHERE id = f.job_id
    RETURNING ${COLUMNS}`,
} as const

/** A claim lost a race that a new snapshot resolves (see the module comment). */
const RETRY_CODES = new Set(['23505', '40P01', '40001'])
const codeOf = (error: unknown) => String((error as { code?: unknown }).code)

/** node-postgres has parsed the `json` columns already. */
const fromRow = (row: JobRow) => storedJobOf(row, (value) => value)
const bySeq = (a: StoredJob, b: StoredJob) => a.seq - b.seq

export class PgJobQueue implements JobQueue {
  private readonly clock: (() => number) | undefined
  private readonly maxAttempts: number

  constructor(
    private readonly pool: Pool,
    options: PgJobQueueOptions = {},
  ) {
    this.clock = options.now
    this.maxAttempts = options.maxAttempts ?? 5
  }

  /** The value of `$1` in statements that read the clock. */
  private now(): Date | null {
    return this.clock ? new Date(this.clock()) : null
  }

  private async jobs(name: string, text: string, values: unknown[]): Promise<StoredJob[]> {
    return (await this.pool.query<JobRow>({ name, text, values })).rows.map(fromRow)
  }

  async enqueue(input: NewJob): Promise<{ job: StoredJob; coalesced: boolean }> {
    const values = [
      this.now(),
      randomUUID(),
      input.workspace,
      input.userId,
      input.kind,
      input.target,
      laneOf(input.kind, input.target),
      JSON.stringify(input.params),
      input.coalesceKey,
      input.payload ?? null,
      JSON.stringify(input.counts),
    ]
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const [inserted] = await this.jobs('jobs-insert', SQL.insert, values)
      if (inserted) return { job: inserted, coalesced: false }
      // The insert met a queued job of the same key: that job, unless it was claimed since.
      const [existing] = await this.jobs('jobs-queued-by-key', SQL.queuedByKey, [input.coalesceKey])
      if (existing) return { job: existing, coalesced: true }
    }
    throw new Error(`enqueueing a job of coalesce key ${input.coalesceKey} lost the race ${this.maxAttempts} times`)
  }

  async get(id: string): Promise<StoredJob | undefined> {
    return (await this.jobs('jobs-get', SQL.get, [id]))[0]
  }

  async list(userId: string, kind: JobKind, limit: number): Promise<StoredJob[]> {
    return this.jobs('jobs-list', SQL.list, [userId, kind, limit])
  }

  async queued(limit: number): Promise<QueuedJob[]> {
    const result = await this.pool.query<JobRow & { lane_busy: boolean }>({ name: 'jobs-queued', text: SQL.queued, values: [limit] })
    return positionsOf(result.rows, fromRow)
  }

  async position(id: string): Promise<number | undefined> {
    const result = await this.pool.query<{ position: number }>({ name: 'jobs-position', text: SQL.position, values: [id] })
    return result.rows[0]?.position
  }

  async active(userId: string): Promise<(StoredJob | QueuedJob)[]> {
    const result = await this.pool.query<JobRow & { position: number | null }>({ name: 'jobs-active', text: SQL.active, values: [userId] })
    return activeOf(result.rows, fromRow)
  }

  async lastFinished(userId: string): Promise<StoredJob | undefined> {
    return (await this.jobs('jobs-last-finished', SQL.lastFinished, [userId]))[0]
  }

  async payload(id: string): Promise<Buffer | null> {
    const result = await this.pool.query<{ payload: Buffer | null }>({ name: 'jobs-payload', text: SQL.payload, values: [id] })
    return result.rows[0]?.payload ?? null
  }

  async claim(worker: string, max: number, leaseMs: number): Promise<StoredJob[]> {
    if (max <= 0) return []
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.jobs('jobs-claim', SQL.claim, [this.now(), max, worker, leaseMs])).sort(bySeq)
      } catch (error) {
        if (attempt >= this.maxAttempts || !RETRY_CODES.has(codeOf(error))) throw error
      }
    }
  }

  async renew(worker: string, ids: string[], leaseMs: number): Promise<string[]> {
    if (ids.length === 0) return []
    const result = await this.pool.query<{ id: string }>({
      name: 'jobs-renew',
      text: SQL.renew,
      values: [this.now(), ids, worker, leaseMs],
    })
    const held = new Set(result.rows.map((row) => row.id))
    return ids.filter((id) => held.has(id))
  }

  async progress(id: string, worker: string, counts: JobCounts): Promise<boolean> {
    const result = await this.pool.query({ name: 'jobs-progress', text: SQL.progress, values: [id, worker, JSON.stringify(counts)] })
    return result.rowCount === 1
  }

  async retrying(id: string, worker: string, retry: JobRetry | null): Promise<boolean> {
    const values = [id, worker, retry === null ? null : JSON.stringify(retry)]
    return (await this.pool.query({ name: 'jobs-retrying', text: SQL.retrying, values })).rowCount === 1
  }

  async finish(id: string, worker: string, outcome: JobOutcome): Promise<boolean> {
    const values = [
      this.now(),
      id,
      worker,
      outcome.status,
      JSON.stringify(outcome.counts),
      JSON.stringify(outcome.errors ?? []),
      outcome.error ?? null,
      outcome.result === undefined ? null : JSON.stringify(outcome.result),
    ]
    return (await this.pool.query({ name: 'jobs-finish', text: SQL.finish, values })).rowCount === 1
  }

  async release(id: string, worker: string): Promise<void> {
    await this.pool.query({ name: 'jobs-release', text: SQL.release, values: [id, worker] })
  }

  async ofWorkspace(workspace: string, statuses: readonly JobStatus[], limit: number): Promise<StoredJob[]> {
    return this.jobs('jobs-of-workspace', SQL.ofWorkspace, [workspace, statuses, limit])
  }

  async requeue(id: string): Promise<StoredJob | undefined> {
    return (await this.jobs('jobs-requeue', SQL.requeue, [id]))[0]
  }

  async cancel(id: string, error: string): Promise<StoredJob | undefined> {
    return (await this.jobs('jobs-cancel', SQL.cancel, [this.now(), id, error]))[0]
  }

  async recoverExpired(maxAttempts: number): Promise<StoredJob[]> {
    const now = this.now()
    const rows = await inTransaction(this.pool, async (client) => {
      // Locked: a holder renewing meanwhile waits for this decision, then finds it no longer holds the job.
      const expired = (await client.query<{ id: string; attempts: number }>({ name: 'jobs-expired', text: SQL.expired, values: [now] }))
        .rows
      if (expired.length === 0) return []
      const gaveUp = expired.map((row) => (row.attempts >= maxAttempts ? abandonedError(row.attempts) : null))
      const values = [now, expired.map((row) => row.id), gaveUp]
      return (await client.query<JobRow>({ name: 'jobs-recover', text: SQL.recover, values })).rows
    })
    return rows.map(fromRow).sort(bySeq)
  }
}
