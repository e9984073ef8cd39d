/**
 * The job queue in the embedded SQLite database. Claims run in IMMEDIATE transactions, and
 * two partial unique indexes make the rules hold in the database itself: one queued job per
 * coalesce key, one running job per (user, lane). better-sqlite3 is synchronous: every method
 * does its work (one transaction at most) before returning an already settled promise.
 */
import { randomUUID } from 'node:crypto'
import { type Db, statementCache } from '../store/openDatabase.js'
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

type JobRow = Row<string> & { lane: string }

const COLUMNS =
  'seq, id, workspace, user_id, kind, target, lane, params, status, counts, errors, error, result, attempts, retry, created_at, started_at, finished_at'

const fromRow = (row: JobRow) => storedJobOf(row, (text) => JSON.parse(text))

export class SqliteJobQueue implements JobQueue {
  /** The runner polls every second: each statement is compiled once. */
  private readonly stmt

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.stmt = statementCache(db)
  }

  async enqueue(input: NewJob): Promise<{ job: StoredJob; coalesced: boolean }> {
    return this.db
      .transaction(() => {
        if (input.coalesceKey !== null) {
          const existing = this.stmt(`SELECT ${COLUMNS} FROM jobs WHERE coalesce_key = ? AND status = 'queued'`).get(input.coalesceKey) as
            | JobRow
            | undefined
          if (existing) return { job: fromRow(existing), coalesced: true }
        }
        const id = randomUUID()
        this.stmt(
          `INSERT INTO jobs (id, workspace, user_id, kind, target, lane, params, coalesce_key, payload, status, counts, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
        ).run(
          id,
          input.workspace,
          input.userId,
          input.kind,
          input.target,
          laneOf(input.kind, input.target),
          JSON.stringify(input.params),
          input.coalesceKey,
          input.payload ?? null,
          JSON.stringify(input.counts),
          this.now(),
        )
        return { job: this.read(id)!, coalesced: false }
      })
      .immediate()
  }

  async get(id: string): Promise<StoredJob | undefined> {
    return this.read(id)
  }

  private read(id: string): StoredJob | undefined {
    const row = this.stmt(`SELECT ${COLUMNS} FROM jobs WHERE id = ?`).get(id) as JobRow | undefined
    return row && fromRow(row)
  }

  async list(userId: string, kind: JobKind, limit: number): Promise<StoredJob[]> {
    const rows = this.stmt(`SELECT ${COLUMNS} FROM jobs WHERE user_id = ? AND kind = ? ORDER BY seq DESC LIMIT ?`).all(
      userId,
      kind,
      limit,
    ) as JobRow[]
    return rows.map(fromRow)
  }

  async queued(limit: number): Promise<QueuedJob[]> {
    const rows = this.stmt(`SELECT ${COLUMNS}, ${LANE_BUSY_SQL} FROM jobs j WHERE status = 'queued' ORDER BY seq LIMIT ?`).all(
      limit,
    ) as (JobRow & { lane_busy: number })[]
    return positionsOf(rows, fromRow)
  }

  async position(id: string): Promise<number | undefined> {
    const row = this.stmt(POSITION_SQL).get(id) as { position: number } | undefined
    return row?.position
  }

  async active(userId: string): Promise<(StoredJob | QueuedJob)[]> {
    return activeOf(this.stmt(activeSql(COLUMNS)).all(userId) as (JobRow & { position: number | null })[], fromRow)
  }

  async lastFinished(userId: string): Promise<StoredJob | undefined> {
    const row = this.stmt(
      `SELECT ${COLUMNS} FROM jobs WHERE user_id = ? AND status IN ('succeeded', 'failed') ORDER BY finished_at DESC, seq DESC LIMIT 1`,
    ).get(userId) as JobRow | undefined
    return row && fromRow(row)
  }

  async payload(id: string): Promise<Buffer | null> {
    const row = this.stmt('SELECT payload FROM jobs WHERE id = ?').get(id) as { payload: Buffer | null } | undefined
    return row?.payload ?? null
  }

  async claim(worker: string, max: number, leaseMs: number): Promise<StoredJob[]> {
    if (max <= 0) return []
    // Nothing queued (the usual poll): no write lock taken.
    if (!this.stmt("SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1").get()) return []
    return this.db
      .transaction(() => {
        // The oldest queued job of every (user, lane) that has nothing running.
        const rows = this.stmt(
          `SELECT ${COLUMNS} FROM jobs j
             WHERE j.status = 'queued'
               AND j.seq = (SELECT min(q.seq) FROM jobs q WHERE q.status = 'queued' AND q.user_id = j.user_id AND q.lane = j.lane)
               AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.user_id = j.user_id AND r.lane = j.lane)
             ORDER BY j.seq LIMIT ?`,
        ).all(max) as JobRow[]
        const now = this.now()
        const take = this.stmt(
          `UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?,
             started_at = coalesce(started_at, ?), coalesce_key = NULL, retry = NULL
           WHERE id = ? AND status = 'queued'`,
        )
        for (const row of rows) take.run(worker, now + leaseMs, now, row.id)
        return rows.map((row) => this.read(row.id)!)
      })
      .immediate()
  }

  async renew(worker: string, ids: string[], leaseMs: number): Promise<string[]> {
    const until = this.now() + leaseMs
    const stmt = this.stmt("UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND status = 'running'")
    return this.db.transaction(() => ids.filter((id) => stmt.run(until, id, worker).changes === 1))()
  }

  async progress(id: string, worker: string, counts: JobCounts): Promise<boolean> {
    const stmt = this.stmt("UPDATE jobs SET counts = ? WHERE id = ? AND lease_owner = ? AND status = 'running'")
    return stmt.run(JSON.stringify(counts), id, worker).changes === 1
  }

  async retrying(id: string, worker: string, retry: JobRetry | null): Promise<boolean> {
    const stmt = this.stmt("UPDATE jobs SET retry = ? WHERE id = ? AND lease_owner = ? AND status = 'running'")
    return stmt.run(retry === null ? null : JSON.stringify(retry), id, worker).changes === 1
  }

  async finish(id: string, worker: string, outcome: JobOutcome): Promise<boolean> {
    const stmt = this.stmt(
      `UPDATE jobs SET status = ?, counts = ?, errors = ?, error = ?, result = ?, finished_at = ?,
         lease_owner = NULL, lease_until = NULL, payload = NULL, retry = NULL
       WHERE id = ? AND lease_owner = ? AND status = 'running'`,
    )
    const result = outcome.result === undefined ? null : JSON.stringify(outcome.result)
    const errors = JSON.stringify(outcome.errors ?? [])
    return (
      stmt.run(outcome.status, JSON.stringify(outcome.counts), errors, outcome.error ?? null, result, this.now(), id, worker).changes === 1
    )
  }

  async release(id: string, worker: string): Promise<void> {
    this.stmt(
      "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, retry = NULL WHERE id = ? AND lease_owner = ? AND status = 'running'",
    ).run(id, worker)
  }

  async ofWorkspace(workspace: string, statuses: readonly JobStatus[], limit: number): Promise<StoredJob[]> {
    const rows = this.stmt(
      `SELECT ${COLUMNS} FROM jobs WHERE workspace = ? AND status IN (SELECT value FROM json_each(?)) ORDER BY seq DESC LIMIT ?`,
    ).all(workspace, JSON.stringify(statuses), limit) as JobRow[]
    return rows.map(fromRow)
  }

  async requeue(id: string): Promise<StoredJob | undefined> {
    const changed = this.stmt(`UPDATE jobs SET ${REQUEUE_SET} WHERE id = ? AND ${REQUEUE_WHERE}`).run(id).changes
    return changed === 1 ? this.read(id) : undefined
  }

  async cancel(id: string, error: string): Promise<StoredJob | undefined> {
    const changed = this.stmt(`UPDATE jobs SET ${CANCEL_SET}, finished_at = ?, error = ? WHERE id = ? AND ${CANCEL_WHERE}`).run(
      this.now(),
      error,
      id,
    ).changes
    return changed === 1 ? this.read(id) : undefined
  }

  async recoverExpired(maxAttempts: number): Promise<StoredJob[]> {
    if (!this.stmt("SELECT 1 FROM jobs WHERE status = 'running' AND lease_until < ? LIMIT 1").get(this.now())) return []
    return this.db
      .transaction(() => {
        const now = this.now()
        const rows = this.stmt("SELECT id, attempts FROM jobs WHERE status = 'running' AND lease_until < ?").all(now) as {
          id: string
          attempts: number
        }[]
        for (const row of rows) {
          if (row.attempts >= maxAttempts) {
            this.stmt(
              `UPDATE jobs SET status = 'failed', finished_at = ?, lease_owner = NULL, lease_until = NULL, payload = NULL,
                   retry = NULL, error = ? WHERE id = ?`,
            ).run(now, abandonedError(row.attempts), row.id)
          } else {
            this.stmt("UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, retry = NULL WHERE id = ?").run(row.id)
          }
        }
        return rows.map((row) => this.read(row.id)!)
      })
      .immediate()
  }
}
