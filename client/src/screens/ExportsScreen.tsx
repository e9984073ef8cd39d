/**
 * Start exports and follow them live; download finished files. Imports started elsewhere are
 * followed here too, under their own heading. Never blocks the UI.
 */
import { Badge } from '../components/Badge.js'
import { useEffect, useState } from 'react'
import { COLLECTIONS, type Collection } from '../../../shared/collections.js'
import { useToast } from '../components/Toasts.js'
import { navigate } from '../router.js'
import { COLLECTION_LABELS, timeAgo } from '../fieldKinds.js'
import { notStartedText, retryText, targetLabel } from '../jobWords.js'
import { api } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { type Job, useInboxJobs } from '../sync/useInbox.js'
import { type SavedSheet, SheetsPanel } from './SheetsPanel.js'

const TARGETS = [
  { target: 'csv', label: 'CSV', hint: 'one file per collection, zipped' },
  { target: 'xlsx', label: 'Excel', hint: 'one sheet per collection' },
] as const

type CountKey = keyof NonNullable<Job['counts']>
/** The counts a table shows, and their headings. */
type Counts = readonly (readonly [CountKey, string])[]
const EXPORT_COUNTS: Counts = [
  ['exported', 'Exported'],
  ['added', 'Added'],
  ['updated', 'Updated'],
  ['deleted', 'Deleted'],
]
const IMPORT_COUNTS: Counts = [
  ['imported', 'Imported'],
  ['skipped', 'Skipped'],
  ['merged', 'Merged'],
  ['invalid', 'Invalid'],
]

/** How often a retry's countdown is redrawn. */
const COUNTDOWN_MS = 1000

/** The time now, redrawn every COUNTDOWN_MS while `ticking`. */
export function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (!ticking) return
    setNow(Date.now())
    const timer = setInterval(() => setNow(Date.now()), COUNTDOWN_MS)
    return () => clearInterval(timer)
  }, [ticking])
  return now
}

export default function ExportsScreen() {
  const user = useUser()
  const toast = useToast()
  const { jobs, loaded } = useInboxJobs(user.workspace, user.id)
  const [collections, setCollections] = useState<string[]>([...COLLECTIONS])
  const [starting, setStarting] = useState<string | null>(null)
  const exports = jobs.filter((job) => job.kind !== 'import')
  const imports = jobs.filter((job) => job.kind === 'import')
  const now = useNow(jobs.some((job) => job.status === 'running' && job.retry))

  async function start(target: (typeof TARGETS)[number]['target'] | 'sheets', extra: { sheet?: SavedSheet } = {}) {
    setStarting(target)
    try {
      await api('POST', '/api/exports', { target, collections, ...extra })
      toast(`${targetLabel(target)} export queued`)
    } catch (e) {
      toast(notStartedText('Export', e), 'error')
    } finally {
      setStarting(null)
    }
  }

  return (
    <section aria-labelledby="exports-title">
      <div className="page-header">
        <h1 id="exports-title">Exports</h1>
        <p className="hint">Exports run in the background; follow them here or keep working — you get a notice when they finish.</p>
        {user.role !== 'viewer' && (
          <a
            className="button"
            href="/import"
            onClick={(e) => {
              e.preventDefault()
              navigate('/import')
            }}
          >
            Import CSV
          </a>
        )}
      </div>
      <div className="card">
        <fieldset className="export-collections">
          <legend>Collections</legend>
          <div className="checks">
            {COLLECTIONS.map((c) => (
              <label key={c} className="check">
                <input
                  type="checkbox"
                  checked={collections.includes(c)}
                  onChange={(e) => setCollections((list) => (e.target.checked ? [...list, c] : list.filter((x) => x !== c)))}
                />
                {COLLECTION_LABELS[c].plural}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="export-targets">
          {TARGETS.map((t) => (
            <button
              key={t.target}
              type="button"
              className="export-target"
              disabled={starting !== null || collections.length === 0}
              onClick={() => void start(t.target)}
            >
              <strong>Export to {t.label}</strong>
              <span>{t.hint}</span>
            </button>
          ))}
        </div>
      </div>
      {user.role === 'viewer' ? (
        <p className="hint" role="note" data-testid="viewer-exports-note">
          As a viewer you can download CSV and Excel exports; syncing to Google Sheets and importing need a member.
        </p>
      ) : (
        <SheetsPanel
          canSetWorkspace={user.role === 'owner' || user.role === 'admin'}
          disabled={starting !== null || collections.length === 0}
          onSync={(sheet) => void start('sheets', { sheet })}
        />
      )}
      <div className="table-wrap">
        <table className="table" aria-label="Export jobs">
          <thead>
            <tr>
              <th>Target</th>
              <th>Status</th>
              <CountHeads counts={EXPORT_COUNTS} />
              <th>Started</th>
              <th>
                <span className="visually-hidden">File</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {exports.map((job) => (
              <tr key={job.id} data-job-id={job.id} data-status={job.status}>
                <td>{targetLabel(job.target)}</td>
                <td>
                  <JobStatus job={job} now={now} />
                </td>
                <CountCells job={job} counts={EXPORT_COUNTS} />
                <td className="cell-muted">{timeAgo(job.createdAt)}</td>
                <td>
                  {job.status === 'succeeded' && job.target !== 'sheets' && (
                    <a className="button button-small" href={`/api/exports/${job.id}/file`} download>
                      Download
                    </a>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {loaded && exports.length === 0 && <p className="empty">No exports yet.</p>}
      </div>
      {imports.length > 0 && <Imports jobs={imports} now={now} />}
    </section>
  )
}

function CountHeads({ counts }: { counts: Counts }) {
  return counts.map(([key, heading]) => (
    <th key={key} className="num">
      {heading}
    </th>
  ))
}

function CountCells({ job, counts }: { job: Job; counts: Counts }) {
  return counts.map(([key]) => (
    <td key={key} className="num">
      {job.counts?.[key] ?? 0}
    </td>
  ))
}

/** The status badge, a queued job's place, a running job's retry, a failed job's error. */
export function JobStatus({ job, now }: { job: Job; now: number }) {
  return (
    <>
      <Badge value={job.status} />
      {job.status === 'queued' && job.position !== undefined && <span className="cell-muted"> #{job.position} in line</span>}
      {job.status === 'running' && job.retry && (
        <div className="job-retry" data-testid="job-retry">
          {retryText(job.retry, now)}
        </div>
      )}
      {job.error && <div className="field-issue">{job.error}</div>}
    </>
  )
}

function Imports({ jobs, now }: { jobs: Job[]; now: number }) {
  return (
    <section aria-labelledby="imports-title" className="imports">
      <h2 id="imports-title">Imports</h2>
      <div className="table-wrap">
        <table className="table" aria-label="Import jobs">
          <thead>
            <tr>
              <th>File</th>
              <th>Into</th>
              <th>Status</th>
              <CountHeads counts={IMPORT_COUNTS} />
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-job-id={job.id} data-status={job.status}>
                <td>{job.fileName ?? 'CSV file'}</td>
                <td>{COLLECTION_LABELS[job.collection as Collection]?.plural ?? job.collection}</td>
                <td>
                  <JobStatus job={job} now={now} />
                  {job.errors && job.errors.length > 0 && (
                    <details className="import-errors">
                      <summary>
                        {job.errors.length} {job.errors.length === 1 ? 'problem' : 'problems'}
                      </summary>
                      <ul>
                        {job.errors.map((e) => (
                          <li key={`${e.line}:${e.message}`}>
                            Line {e.line}: {e.message}
                          </li>
                        ))}
                      </ul>
                    </details>
                  )}
                </td>
                <CountCells job={job} counts={IMPORT_COUNTS} />
                <td className="cell-muted">{timeAgo(job.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
