/** The plain words for jobs: a retry's wait, and the toast when a job ends. Pure. */
import type { Job } from './sync/useInbox.js'
import { ApiError } from './session/api.js'

/** What a job waits for, by the reason its request failed (the only API jobs retry is Google's). */
const WAITING_FOR: Record<NonNullable<Job['retry']>['reason'], string> = {
  quota: "Waiting for Google's quota",
  unavailable: 'Google Sheets is unavailable',
  network: 'Google Sheets cannot be reached',
}

/** "Waiting for Google's quota — retrying in 12 s (attempt 3 of 6)", as of `now` (ms). */
export function retryText(retry: NonNullable<Job['retry']>, now: number): string {
  const seconds = Math.ceil((Date.parse(retry.nextAt) - now) / 1000)
  const when = seconds > 0 ? `retrying in ${seconds} s` : 'retrying now'
  return `${WAITING_FOR[retry.reason] ?? 'Waiting'} — ${when} (attempt ${retry.attempt} of ${retry.of})`
}

const LABELS: Record<string, string> = { csv: 'CSV', xlsx: 'Excel', sheets: 'Google Sheets' }

/** An export's target as people call it. */
export const targetLabel = (target: string) => LABELS[target] ?? target.toUpperCase()

/** The toast for a job that ended: "Import finished — 120 imported, 3 skipped, 2 invalid". */
export function finishedText(job: Job): string {
  const c = job.counts ?? {}
  if (job.kind === 'import') {
    if (job.status === 'failed') return `Import failed${job.error ? `: ${job.error}` : ''}`
    const merged = c.merged ? `, ${c.merged} merged` : ''
    return `Import finished — ${c.imported ?? 0} imported, ${c.skipped ?? 0} skipped${merged}, ${c.invalid ?? 0} invalid`
  }
  const what = `${targetLabel(job.target)} export`
  if (job.status === 'failed') return `${what} failed${job.error ? `: ${job.error}` : ''}`
  return `${what} finished — ${c.exported ?? 0} records`
}

/** The toast when the server did not take a job: "Import not started: <the API's reason>". */
export function notStartedText(what: 'Export' | 'Import', error: unknown): string {
  return `${what} not started: ${error instanceof ApiError ? error.message : 'the server is unreachable'}`
}
