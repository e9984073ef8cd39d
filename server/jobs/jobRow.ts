/**
 * A row of the `jobs` table, the same columns in SQLite and PostgreSQL, and the job it holds.
 * The JSON columns arrive as text from SQLite and already parsed from PostgreSQL.
 */
import {
  type JobCounts,
  type JobKind,
  type JobRetry,
  type JobStatus,
  type LineError,
  type QueuedJob,
  type StoredJob,
  queuePositions,
} from './JobQueue.js'

/** A `jobs` row; `J` is how its JSON columns arrive (text, or parsed). */
export interface JobRow<J> {
  seq: number
  id: string
  workspace: string
  user_id: string
  kind: JobKind
  target: string
  params: J
  status: JobStatus
  counts: J
  errors: J
  error: string | null
  result: J | null
  attempts: number
  retry: J | null
  created_at: number
  started_at: number | null
  finished_at: number | null
}

/** The job in `row`; `json` turns one JSON column into its value. */
export function storedJobOf<J>(row: JobRow<J>, json: (column: J) => unknown): StoredJob {
  return {
    id: row.id,
    seq: row.seq,
    workspace: row.workspace,
    userId: row.user_id,
    kind: row.kind,
    target: row.target,
    params: json(row.params) as Record<string, unknown>,
    status: row.status,
    counts: json(row.counts) as JobCounts,
    errors: json(row.errors) as LineError[],
    error: row.error,
    result: row.result === null ? null : (json(row.result) as Record<string, unknown>),
    attempts: row.attempts,
    retry: row.retry === null ? null : (json(row.retry) as JobRetry),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }
}

/**
 * The position [JQ4] of the queued job `j` (the rule of `queuePositions`), one SQL expression
 * for both databases: its own lane's queued jobs ahead of it, and the other lanes whose first
 * queued job is ahead of it and that have nothing running.
 */
const POSITION = `CAST(1
    + (SELECT count(*) FROM jobs q WHERE q.status = 'queued' AND q.user_id = j.user_id AND q.lane = j.lane AND q.seq < j.seq)
    + (SELECT count(*) FROM jobs h
        WHERE h.status = 'queued' AND h.seq < j.seq AND NOT (h.user_id = j.user_id AND h.lane = j.lane)
          AND h.seq = (SELECT min(m.seq) FROM jobs m WHERE m.status = 'queued' AND m.user_id = h.user_id AND m.lane = h.lane)
          AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.user_id = h.user_id AND r.lane = h.lane))
    AS integer)`

/** A queued job's position; `?`: its id. */
export const POSITION_SQL = `SELECT ${POSITION} AS position FROM jobs j WHERE j.id = ? AND j.status = 'queued'`

/** `columns` of a user's running and queued jobs in queue order, and the position of each queued one; `?`: the user. */
export const activeSql = (columns: string) =>
  `SELECT ${columns}, CASE WHEN j.status = 'queued' THEN ${POSITION} END AS position
  FROM jobs j WHERE j.user_id = ? AND j.status IN ('queued', 'running') ORDER BY j.seq`

/** The jobs of `rows` (read with `activeSql`), a queued one with its position. */
export function activeOf<J>(rows: (J & { position: number | null })[], job: (row: J) => StoredJob): (StoredJob | QueuedJob)[] {
  return rows.map((row) => (row.position === null ? job(row) : { ...job(row), position: row.position }))
}

/** Whether the lane of the queued job `j` has a job running (`queuePositions` needs those lanes). */
export const LANE_BUSY_SQL =
  "EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.user_id = j.user_id AND r.lane = j.lane) AS lane_busy"

/** The queued jobs of `rows` (read with LANE_BUSY_SQL) with their positions: one statement, so one moment. */
export function positionsOf<J>(rows: (J & { lane_busy: unknown })[], job: (row: J) => StoredJob): QueuedJob[] {
  const jobs = rows.map((row) => job(row))
  // SQLite answers 0/1, PostgreSQL a boolean.
  return queuePositions(
    jobs,
    jobs.filter((_, i) => Boolean(rows[i]!.lane_busy)),
  )
}

/** [JQ8] A failed job queued again: in its old place (`seq`), its outcome cleared, its attempts kept. */
export const REQUEUE_SET = "status = 'queued', error = NULL, errors = '[]', result = NULL, finished_at = NULL"
/** An import's upload is dropped when it finishes: without it, it cannot run again. */
export const REQUEUE_WHERE = "status = 'failed' AND (kind <> 'import' OR payload IS NOT NULL)"
/** [JQ8] A cancelled job: failed, marked so, its lease and upload gone; `finished_at` and `error` are set by the caller. */
export const CANCEL_SET = `status = 'failed', result = '{"cancelled":true}', lease_owner = NULL, lease_until = NULL,
  payload = NULL, retry = NULL, coalesce_key = NULL`
export const CANCEL_WHERE = "status IN ('queued', 'running')"
