/**
 * Import a CSV file into a collection: the first rows are shown with the field each column
 * goes to (matched by header, editable), then the import runs as a job this screen follows to
 * its result. A line the server could not take is listed with its reason, and the list can be
 * downloaded as CSV to fix the file.
 */
import { useState } from 'react'
import { COLLECTIONS, type Collection, HAS_ITEMS, fieldNames } from '../../../shared/collections.js'
import { useToast } from '../components/Toasts.js'
import { COLLECTION_LABELS, fieldLabel } from '../fieldKinds.js'
import { notStartedText } from '../jobWords.js'
import { api } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { type Job, useInboxJobs } from '../sync/useInbox.js'
import { JobStatus, useNow } from './ExportsScreen.js'

/** Rows of the file shown before importing. */
const PREVIEW_ROWS = 5
/** Bytes of the file read for the preview: enough for the header and the first rows. */
const PREVIEW_BYTES = 64 * 1024

/** The columns a collection takes, as the server names them. */
function targetsOf(collection: Collection): string[] {
  return ['id', ...fieldNames(collection), 'notes', ...(HAS_ITEMS[collection] ? ['items'] : [])]
}

const normal = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '')

/** The field a header names, compared without case, spaces or punctuation; "" when none. */
function matchColumn(header: string, targets: string[]): string {
  const wanted = normal(header)
  return targets.find((t) => normal(t) === wanted || normal(fieldLabel(t)) === wanted) ?? ''
}

/**
 * The first `limit` records of CSV text, quotes honoured. Only for the preview: the server
 * parses the whole file, and reports what it cannot read by line.
 */
export function previewRows(text: string, limit: number): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  const body = text.replace(/^\uFEFF/, '')
  for (let i = 0; i < body.length && rows.length < limit; i++) {
    const ch = body[i]
    if (quoted) {
      if (ch === '"' && body[i + 1] === '"') cell += body[++i]
      else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"' && cell === '') quoted = true
    else if (ch === ',') {
      row.push(cell)
      cell = ''
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && body[i + 1] === '\n') i++
      row.push(cell)
      if (row.some((c) => c !== '')) rows.push(row)
      row = []
      cell = ''
    } else cell += ch
  }
  if (rows.length < limit && (cell !== '' || row.length > 0)) rows.push([...row, cell])
  return rows
}

/** The line errors as a CSV file people can open next to theirs. */
function errorsCsv(errors: NonNullable<Job['errors']>): string {
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`
  return `${['line,message', ...errors.map((e) => `${e.line},${quote(e.message)}`)].join('\r\n')}\r\n`
}

export default function ImportScreen() {
  const user = useUser()
  const toast = useToast()
  const { jobs } = useInboxJobs(user.workspace, user.id)
  const [file, setFile] = useState<File | null>(null)
  const [rows, setRows] = useState<string[][]>([])
  const [collection, setCollection] = useState<Collection>('customers')
  const [columns, setColumns] = useState<string[]>([])
  const [onDuplicate, setOnDuplicate] = useState<'skip' | 'merge'>('skip')
  const [jobId, setJobId] = useState<string | null>(null)
  const [sending, setSending] = useState(false)
  const job = jobs.find((j) => j.id === jobId)
  const now = useNow(job?.status === 'running' && job.retry !== undefined)
  const [header = [], ...sample] = rows
  const targets = targetsOf(collection)

  async function choose(chosen: File | null) {
    setFile(chosen)
    setJobId(null)
    const parsed = chosen ? previewRows(await chosen.slice(0, PREVIEW_BYTES).text(), PREVIEW_ROWS + 1) : []
    setRows(parsed)
    setColumns((parsed[0] ?? []).map((h) => matchColumn(h, targetsOf(collection))))
  }

  function pickCollection(next: Collection) {
    setCollection(next)
    setColumns(header.map((h) => matchColumn(h, targetsOf(next))))
  }

  async function start() {
    if (!file) return
    setSending(true)
    const form = new FormData()
    form.set('collection', collection)
    form.set('onDuplicate', onDuplicate)
    form.set('columns', JSON.stringify(columns))
    form.set('file', file, file.name)
    try {
      const queued = await api<Job>('POST', '/api/imports', form)
      setJobId(queued.id)
    } catch (e) {
      toast(notStartedText('Import', e), 'error')
    } finally {
      setSending(false)
    }
  }

  // The API refuses a viewer's import: no form to fill in for nothing.
  if (user.role === 'viewer')
    return (
      <section aria-labelledby="import-title">
        <div className="page-header">
          <h1 id="import-title">Import CSV</h1>
        </div>
        <p className="notice notice-info" data-testid="viewer-import-note">
          Importing needs a member; as a viewer you can download CSV and Excel exports.
        </p>
      </section>
    )

  return (
    <section aria-labelledby="import-title">
      <div className="page-header">
        <h1 id="import-title">Import CSV</h1>
        <p className="hint">The first row names the columns; check where each goes before importing.</p>
      </div>
      <div className="card import-form">
        <div className="field">
          <label htmlFor="import-file">File</label>
          <input id="import-file" type="file" accept=".csv,text/csv" onChange={(e) => void choose(e.target.files?.[0] ?? null)} />
        </div>
        <div className="field">
          <label htmlFor="import-collection">Collection</label>
          <select id="import-collection" value={collection} onChange={(e) => pickCollection(e.target.value as Collection)}>
            {COLLECTIONS.map((c) => (
              <option key={c} value={c}>
                {COLLECTION_LABELS[c].plural}
              </option>
            ))}
          </select>
        </div>
        <fieldset className="export-collections">
          <legend>Rows that already exist</legend>
          <div className="checks">
            <label className="check">
              <input type="radio" name="duplicates" checked={onDuplicate === 'skip'} onChange={() => setOnDuplicate('skip')} />
              Skip them
            </label>
            <label className="check">
              <input type="radio" name="duplicates" checked={onDuplicate === 'merge'} onChange={() => setOnDuplicate('merge')} />
              Merge into the existing record
            </label>
          </div>
        </fieldset>
      </div>
      {header.length > 0 && (
        <div className="table-wrap">
          <table className="table" aria-label="Preview">
            <thead>
              <tr>
                {header.map((h, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: columns are positions in the file
                  <th key={i}>
                    <div>{h}</div>
                    <select
                      aria-label={`Field for column ${h || i + 1}`}
                      value={columns[i] ?? ''}
                      onChange={(e) => setColumns((list) => list.map((c, j) => (j === i ? e.target.value : c)))}
                    >
                      <option value="">(ignore)</option>
                      {targets.map((t) => (
                        <option key={t} value={t}>
                          {fieldLabel(t)}
                        </option>
                      ))}
                    </select>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {sample.map((row, r) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: rows are positions in the file
                <tr key={r}>
                  {header.map((_, i) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: columns are positions in the file
                    <td key={i}>{row[i] ?? ''}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="actions">
        <button
          type="button"
          className="button button-primary"
          disabled={!file || sending || header.length === 0}
          onClick={() => void start()}
        >
          Import
        </button>
      </div>
      {job && <ImportResult job={job} now={now} />}
    </section>
  )
}

function ImportResult({ job, now }: { job: Job; now: number }) {
  const c = job.counts ?? {}
  const errors = job.errors ?? []
  return (
    <div className="card import-result" data-testid="import-result" data-status={job.status}>
      <JobStatus job={job} now={now} />
      <p>
        {c.imported ?? 0} imported, {c.skipped ?? 0} skipped, {c.merged ?? 0} merged, {c.invalid ?? 0} invalid
      </p>
      {errors.length > 0 && (
        <>
          <ul className="import-errors" aria-label="Problems">
            {errors.map((e) => (
              <li key={`${e.line}:${e.message}`}>
                Line {e.line}: {e.message}
              </li>
            ))}
          </ul>
          <a
            className="button button-small"
            download={`${(job.fileName ?? 'import').replace(/\.csv$/i, '')}-problems.csv`}
            href={`data:text/csv;charset=utf-8,${encodeURIComponent(errorsCsv(errors))}`}
          >
            Download problems as CSV
          </a>
        </>
      )}
    </div>
  )
}
