/** Start exports and follow them live; download finished files. Never blocks the UI. */
import { useState } from 'react'
import { COLLECTIONS } from '../../../shared/collections.js'
import { useToast } from '../components/Toasts.js'
import { COLLECTION_LABELS, timeAgo } from '../fieldKinds.js'
import { api, ApiError } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useInboxJobs } from '../sync/useInbox.js'

const TARGETS = [
  { target: 'csv', label: 'CSV', hint: 'one file per collection, zipped' },
  { target: 'xlsx', label: 'Excel', hint: 'one sheet per collection' },
  { target: 'sheets', label: 'Google Sheets', hint: 'incremental sync to your spreadsheet' },
] as const

export default function ExportsScreen() {
  const user = useUser()
  const toast = useToast()
  const { jobs, loaded } = useInboxJobs(user.workspace, user.id)
  const [collections, setCollections] = useState<string[]>([...COLLECTIONS])
  const [starting, setStarting] = useState<string | null>(null)

  async function start(target: (typeof TARGETS)[number]['target']) {
    setStarting(target)
    try {
      await api('POST', '/api/exports', { target, collections })
      toast(`${target.toUpperCase()} export queued`)
    } catch (e) {
      toast(e instanceof ApiError ? `Export not started: ${e.message}` : 'Export not started: the server is unreachable', 'error')
    } finally {
      setStarting(null)
    }
  }

  return (
    <section aria-labelledby="exports-title">
      <div className="page-header">
        <h1 id="exports-title">Exports</h1>
        <p className="hint">Exports run in the background; follow them here or keep working — you get a notice when they finish.</p>
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
      <div className="table-wrap">
        <table className="table" aria-label="Export jobs">
          <thead>
            <tr>
              <th>Target</th>
              <th>Status</th>
              <th className="num">Exported</th>
              <th className="num">Added</th>
              <th className="num">Updated</th>
              <th className="num">Deleted</th>
              <th>Started</th>
              <th>
                <span className="visually-hidden">File</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-job-id={job.id} data-status={job.status}>
                <td>{job.target.toUpperCase()}</td>
                <td>
                  <span className={`badge badge-${job.status}`}>{job.status}</span>
                  {job.status === 'queued' && job.position !== undefined && <span className="cell-muted"> #{job.position} in line</span>}
                  {job.error && <div className="field-issue">{job.error}</div>}
                </td>
                <td className="num">{job.counts?.exported ?? 0}</td>
                <td className="num">{job.counts?.added ?? 0}</td>
                <td className="num">{job.counts?.updated ?? 0}</td>
                <td className="num">{job.counts?.deleted ?? 0}</td>
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
        {loaded && jobs.length === 0 && <p className="empty">No exports yet.</p>}
      </div>
    </section>
  )
}
