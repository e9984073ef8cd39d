/**
 * CSV import as a job: each row is checked against the collection's schema; valid rows
 * become records through the same write path as every edit (RecordService), invalid rows
 * are reported by line. Duplicates — same `id` as a live record, same e-mail (customers,
 * leads), or the same content as a row imported before — are skipped or merged.
 *
 * Every created record's duplicate key is kept in `import_keys` (JobStateStore) with the job
 * that made it, so importing a file twice adds nothing, and a job retried after a crash
 * counts the rows its earlier attempt created as imported. A row claims its key, with the id
 * its record will get, before it creates the record: of two imports of one key at once (two
 * users, or two processes on PostgreSQL) one creates the record, and the other skips the row
 * (or merges it, once the record exists).
 */
import { createHash } from 'node:crypto'
import {
  type Collection,
  FIELD_DEFAULTS,
  FIELD_SCHEMAS,
  type FieldValues,
  HAS_ITEMS,
  checkItems,
  checkRecord,
  fieldNames,
} from '../../shared/collections.js'
import { RecordError } from '../records/RecordError.js'
import { MAX_PAGE } from '../records/RecordReads.js'
import type { RecordService } from '../records/RecordService.js'
import { assertNever, newRecordId } from '../../shared/docNames.js'
import type { JobOutcome, JobQueue, LineError } from './JobQueue.js'
import { type JobContext, JobError } from './JobRunner.js'
import { type ImportKeyOwner, type ImportKeyScope, type JobStateStore, sameOwner } from './JobStateStore.js'
import { READ_ONLY_COLUMNS } from './connectors/table.js'

export const DUPLICATE_MODES = ['skip', 'merge'] as const
export type DuplicateMode = (typeof DUPLICATE_MODES)[number]
/** Rows checked and written per event-loop turn. */
const CHUNK_ROWS = 100
/** Most rows one import takes. */
export const MAX_IMPORT_ROWS = 50_000
/** Most line errors kept on the job (the counts stay exact). */
const MAX_REPORTED_ERRORS = 1000

export interface ImportCounts {
  imported: number
  skipped: number
  invalid: number
  merged: number
  [name: string]: number
}

interface ParsedRow {
  line: number
  cells: string[]
  /** Why the row could not be read (a stray quote): reported as its line's error. */
  malformed?: string
}

interface Skip {
  /** Records read before it. */
  records: number
  lines: number
  emptyLines: number
  message: string
}

/**
 * Parses the file into rows with the line each starts on; the first row is the header. A row
 * the parser cannot read stays in the list as malformed, so one stray quote costs one line.
 */
function parseRows(parse: typeof import('csv-parse/sync').parse, csv: Buffer): ParsedRow[] {
  let entries: { record: string[]; info: { lines: number; empty_lines: number } }[]
  const skips: Skip[] = []
  try {
    entries = parse(csv, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (error) => {
        // The error carries the parser's position: records read, lines and empty lines passed.
        const at = error as unknown as { records?: number; lines?: number; empty_lines?: number; message: string } | undefined
        if (at) skips.push({ records: at.records ?? 0, lines: at.lines ?? 0, emptyLines: at.empty_lines ?? 0, message: at.message })
        return undefined
      },
    }) as unknown as typeof entries
  } catch (error) {
    throw new JobError(`the file is not valid CSV: ${(error as Error).message}`)
  }
  if (skips[0]?.records === 0) throw new JobError(`the header row is not valid CSV: ${skips[0].message}`)
  if (entries.length + skips.length - 1 > MAX_IMPORT_ROWS)
    throw new JobError(`the file has ${entries.length + skips.length - 1} rows; at most ${MAX_IMPORT_ROWS} per import`)
  let previousEnd = 0
  let previousEmpty = 0
  const start = (end: number, empty: number) => {
    const line = previousEnd + (empty - previousEmpty) + 1
    previousEnd = end
    previousEmpty = empty
    return line
  }
  const rows: ParsedRow[] = []
  let skip = 0
  entries.forEach(({ record, info }, index) => {
    for (; skips[skip] && skips[skip]!.records <= index; skip++) {
      const { lines, emptyLines, message } = skips[skip]!
      rows.push({ line: start(lines, emptyLines), cells: [], malformed: message })
    }
    rows.push({ line: start(info.lines, info.empty_lines), cells: record })
  })
  for (const { lines, emptyLines, message } of skips.slice(skip))
    rows.push({ line: start(lines, emptyLines), cells: [], malformed: message })
  return rows
}

type Converted = { ok: true; fields: FieldValues; notes?: string; items?: unknown; id?: string } | { ok: false; message: string }

/** Turns one row's cells into typed fields; empty cells are left out. */
function convert(collection: Collection, header: string[], cells: string[]): Converted {
  if (cells.length !== header.length) return { ok: false, message: `expected ${header.length} columns, found ${cells.length}` }
  const fields: FieldValues = {}
  const result: Converted = { ok: true, fields }
  const schemas = FIELD_SCHEMAS[collection] as Record<string, { def: { type: string } }>
  for (let i = 0; i < header.length; i++) {
    const column = header[i]!
    const cell = cells[i]!
    if (column === 'id') result.id = cell.trim() || undefined
    if (cell.trim() === '' || !(column in schemas || column === 'notes' || column === 'items')) continue
    if (column === 'notes') result.notes = cell
    else if (column === 'items') {
      try {
        result.items = JSON.parse(cell)
      } catch {
        return { ok: false, message: 'items: not valid JSON' }
      }
    } else {
      const type = schemas[column]!.def.type
      if (type === 'number') {
        const value = Number(cell.trim())
        if (!Number.isFinite(value)) return { ok: false, message: `${column}: "${cell}" is not a number` }
        fields[column] = value
      } else if (type === 'array')
        fields[column] = cell
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      else fields[column] = cell.trim()
    }
  }
  const issues = [
    ...checkRecord(collection, { ...FIELD_DEFAULTS[collection], ...fields }),
    ...(result.items === undefined ? [] : checkItems(result.items)),
  ]
  if (issues.length > 0) return { ok: false, message: issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ') }
  return result
}

const hasEmailKey = (collection: Collection) => collection === 'customers' || collection === 'leads'

function contentKey(fields: FieldValues, notes: string | undefined, items: unknown): string {
  const sorted = Object.fromEntries(Object.entries(fields).sort(([a], [b]) => a.localeCompare(b)))
  return (
    'content:' +
    createHash('sha1')
      .update(JSON.stringify([sorted, notes ?? '', items ?? null]))
      .digest('base64url')
  )
}

/** The live records' ids and e-mails, read a page per turn. */
async function liveKeys(records: RecordService, workspace: string, collection: Collection, ctx: JobContext): Promise<LiveKeys> {
  const ids = new Set<string>()
  const emails = new Map<string, string>()
  let cursor: string | undefined
  do {
    await ctx.checkpoint()
    const page = await records.list(workspace, collection, { limit: MAX_PAGE, cursor })
    for (const record of page.items) {
      ids.add(record.id)
      if (typeof record.email === 'string' && record.email) emails.set(record.email.toLowerCase(), record.id)
    }
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return { ids, emails }
}

interface LiveKeys {
  ids: Set<string>
  emails: Map<string, string>
}

export interface ImportDeps {
  state: JobStateStore
  records: RecordService
  /** Whether the job that owns a key is still at work. */
  jobs: Pick<JobQueue, 'get'>
}

/** A valid row, with its duplicate key. */
interface Candidate {
  line: number
  key: string
  email: string | undefined
  id: string | undefined
  input: Record<string, unknown>
}

/**
 * What became of a row: `created` by this job (now or by an earlier attempt), a `duplicate`
 * of an existing record, or `taken`: another import is creating the record of its key right now.
 */
type Outcome =
  | { kind: 'created'; recordId: string }
  | { kind: 'duplicate'; recordId: string }
  | { kind: 'taken' }
  | { kind: 'invalid'; message: string }

export async function importCsv(deps: ImportDeps, csv: Buffer, ctx: JobContext): Promise<JobOutcome> {
  const { job } = ctx
  const collection = job.params.collection as Collection
  const mode = job.params.onDuplicate as DuplicateMode
  // Loaded on the first import: a server that never imports does not hold the parser.
  const { parse } = await import('csv-parse/sync')
  const [head, ...rows] = parseRows(parse, csv)
  if (!head) throw new JobError('the file is empty')
  const columns = job.params.columns as string[] | undefined
  if (columns && columns.length !== head.cells.length)
    throw new JobError(`the column mapping names ${columns.length} columns; the file has ${head.cells.length}`)
  const header = columns ?? head.cells.map((c) => c.trim())
  const known = new Set([...fieldNames(collection), 'notes', ...(HAS_ITEMS[collection] ? ['items'] : []), ...READ_ONLY_COLUMNS])
  const errors: LineError[] = header
    .filter((c) => c !== '' && !known.has(c))
    .map((c) => ({ line: head.line, message: `unknown column "${c}" ignored` }))
  const counts: ImportCounts = { imported: 0, skipped: 0, invalid: 0, merged: 0 }
  const report = (line: number, message: string) => {
    counts.invalid++
    if (errors.length < MAX_REPORTED_ERRORS) errors.push({ line, message })
  }
  const scope = { workspace: job.workspace, collection }
  const live = await liveKeys(deps.records, job.workspace, collection, ctx)
  const rowImport = new RowImport(deps, ctx, scope, live)
  /** Keys seen in this file: what became of the first row with each. */
  const seen = new Map<string, Promise<Outcome>>()

  /** Skips or merges a duplicate of `recordId`. */
  const duplicate = async (row: Candidate, recordId: string) => {
    if (mode === 'skip') return void counts.skipped++
    try {
      await deps.records.patch(job.workspace, collection, recordId, row.input, job.userId)
      counts.merged++
    } catch (error) {
      report(row.line, messageOf(error))
    }
  }

  for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
    await ctx.checkpoint()
    const candidates: Candidate[] = []
    for (const { line, cells, malformed } of rows.slice(start, start + CHUNK_ROWS)) {
      if (malformed) {
        report(line, `not valid CSV: ${malformed}`)
        continue
      }
      const row = convert(collection, header, cells)
      if (!row.ok) {
        report(line, row.message)
        continue
      }
      const email =
        hasEmailKey(collection) && typeof row.fields.email === 'string' && row.fields.email ? row.fields.email.toLowerCase() : undefined
      const input: Record<string, unknown> = {
        ...row.fields,
        ...(row.notes === undefined ? {} : { notes: row.notes }),
        ...(row.items === undefined ? {} : { items: row.items }),
      }
      const key = email ? `email:${email}` : contentKey(row.fields, row.notes, row.items)
      candidates.push({ line, key, email, id: row.id, input })
    }
    const owners = await deps.state.importKeyOwners(scope, [...new Set(candidates.map((c) => c.key).filter((key) => !seen.has(key)))])
    const work = candidates.map(async (row) => {
      const earlier = seen.get(row.key)
      if (earlier) {
        const outcome = await earlier
        if (outcome.kind === 'created' || outcome.kind === 'duplicate') await duplicate(row, outcome.recordId)
        else counts.skipped++
        return
      }
      const outcome = rowImport.run(row, owners.get(row.key))
      seen.set(row.key, outcome)
      const result = await outcome
      switch (result.kind) {
        case 'created':
          return void counts.imported++
        case 'duplicate':
          return duplicate(row, result.recordId)
        case 'taken':
          return void counts.skipped++
        case 'invalid':
          return report(row.line, result.message)
        default:
          return assertNever(result)
      }
    })
    await Promise.all(work)
    ctx.progress({ ...counts })
  }
  errors.sort((a, b) => a.line - b.line)
  return { status: 'succeeded', counts: { ...counts }, errors }
}

/**
 * The first row of a file with a key. A row creates a record only once it owns the key
 * (`claimImportKey`, atomic in both databases), so two imports of one key at once, in one
 * process or in two, create one record between them.
 */
class RowImport {
  constructor(
    private readonly deps: ImportDeps,
    private readonly ctx: JobContext,
    private readonly scope: ImportKeyScope & { collection: Collection },
    private readonly live: LiveKeys,
  ) {}

  async run(row: Candidate, owner: ImportKeyOwner | undefined): Promise<Outcome> {
    const { job } = this.ctx
    const existing =
      (row.id && this.live.ids.has(row.id) ? row.id : undefined) ??
      (row.email && this.live.emails.get(row.email)) ??
      (owner && this.live.ids.has(owner.recordId) ? owner.recordId : undefined)
    // A record an earlier attempt of this very job created (it was interrupted) counts as imported.
    if (existing !== undefined)
      return owner?.jobId === job.id ? { kind: 'created', recordId: existing } : { kind: 'duplicate', recordId: existing }
    if (owner && owner.jobId !== job.id) {
      const state = await this.ownerState(owner)
      if (state !== 'gone') return state
    }
    // No owner, or one whose record is gone (deleted, or never created by an earlier attempt).
    const claim = { recordId: newRecordId(), jobId: job.id }
    const winner = await this.deps.state.claimImportKey(this.scope, row.key, claim, owner)
    if (!sameOwner(winner, claim)) {
      const state = await this.ownerState(winner)
      return state === 'gone' ? { kind: 'taken' } : state
    }
    try {
      await this.deps.records.create(job.workspace, this.scope.collection, row.input, job.userId, claim.recordId)
      return { kind: 'created', recordId: claim.recordId }
    } catch (error) {
      return { kind: 'invalid', message: messageOf(error) }
    }
  }

  /**
   * Another job's key whose record was not live when this job started: its record now, the
   * owner still at work on it, or gone. The job is read first: once it is seen finished, it
   * creates nothing more, so a record missing after that is gone for good.
   */
  private async ownerState(owner: ImportKeyOwner): Promise<Outcome | 'gone'> {
    const ownerJob = await this.deps.jobs.get(owner.jobId)
    if (await this.exists(owner.recordId)) return { kind: 'duplicate', recordId: owner.recordId }
    return ownerJob && (ownerJob.status === 'queued' || ownerJob.status === 'running') ? { kind: 'taken' } : 'gone'
  }

  private async exists(recordId: string): Promise<boolean> {
    try {
      await this.deps.records.get(this.scope.workspace, this.scope.collection, recordId)
      return true
    } catch (error) {
      if (error instanceof RecordError && error.code === 'not-found') return false
      throw error
    }
  }
}

function messageOf(error: unknown): string {
  if (error instanceof RecordError)
    return error.issues.length ? error.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : error.message
  throw error
}
