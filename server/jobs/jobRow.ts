/**
 * A row of the `jobs` table, the same columns in SQLite and PostgreSQL, and the job it holds.
 * The JSON columns arrive as text from SQLite and already parsed from PostgreSQL.
 */
import type { JobCounts, JobKind, JobStatus, LineError, StoredJob } from './JobQueue.js'

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
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }
}
