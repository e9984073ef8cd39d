/**
 * CSV import as a job: each row is checked against the collection's schema; valid rows
 * become records through the same write path as every edit (RecordService), invalid rows
 * are reported by line. Duplicates — same `id` as a live record, same e-mail (customers,
 * leads), or the same content as a row imported before — are skipped or merged.
 *
 * Every created record's duplicate key is kept in `import_keys` with the job that made it,
 * so importing a file twice adds nothing, and a job retried after a crash counts the rows
 * its earlier attempt created as imported.
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
import type { Db } from '../store/openDatabase.js'
import type { JobOutcome, LineError } from './JobQueue.js'
import { type JobContext, JobError } from './JobRunner.js'
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
}

/** Parses the file into rows with the line each starts on; the first row is the header. */
function parseRows(parse: typeof import('csv-parse/sync').parse, csv: Buffer): ParsedRow[] {
  let entries: { record: string[]; info: { lines: number; empty_lines: number } }[]
  try {
    entries = parse(csv, { bom: true, info: true, relax_column_count: true, skip_empty_lines: true }) as unknown as typeof entries
  } catch (error) {
    throw new JobError(`the file is not valid CSV: ${(error as Error).message}`)
  }
  if (entries.length - 1 > MAX_IMPORT_ROWS)
    throw new JobError(`the file has ${entries.length - 1} rows; at most ${MAX_IMPORT_ROWS} per import`)
  let previousEnd = 0
  let previousEmpty = 0
  return entries.map(({ record, info }) => {
    const line = previousEnd + (info.empty_lines - previousEmpty) + 1
    previousEnd = info.lines
    previousEmpty = info.empty_lines
    return { line, cells: record }
  })
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
async function liveKeys(records: RecordService, workspace: string, collection: Collection, ctx: JobContext) {
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

export interface ImportDeps {
  db: Db
  records: RecordService
}

export async function importCsv(deps: ImportDeps, csv: Buffer, ctx: JobContext): Promise<JobOutcome> {
  const { job } = ctx
  const collection = job.params.collection as Collection
  const mode = job.params.onDuplicate as DuplicateMode
  // Loaded on the first import: a server that never imports does not hold the parser.
  const { parse } = await import('csv-parse/sync')
  const [head, ...rows] = parseRows(parse, csv)
  if (!head) throw new JobError('the file is empty')
  const header = head.cells.map((c) => c.trim())
  const known = new Set([...fieldNames(collection), 'notes', ...(HAS_ITEMS[collection] ? ['items'] : []), ...READ_ONLY_COLUMNS])
  const errors: LineError[] = header
    .filter((c) => !known.has(c))
    .map((c) => ({ line: head.line, message: `unknown column "${c}" ignored` }))
  const counts: ImportCounts = { imported: 0, skipped: 0, invalid: 0, merged: 0 }
  const report = (line: number, message: string) => {
    counts.invalid++
    if (errors.length < MAX_REPORTED_ERRORS) errors.push({ line, message })
  }
  const live = await liveKeys(deps.records, job.workspace, collection, ctx)
  const keyOwner = deps.db.prepare('SELECT record_id, job_id FROM import_keys WHERE workspace = ? AND collection = ? AND key = ?')
  const remember = deps.db.prepare(
    'INSERT OR REPLACE INTO import_keys (workspace, collection, key, record_id, job_id) VALUES (?, ?, ?, ?, ?)',
  )
  /** Keys seen in this file: the record they resolve to (a promise while it is being created). */
  const seen = new Map<string, Promise<string | null>>()

  for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
    await ctx.checkpoint()
    const work: Promise<void>[] = []
    for (const { line, cells } of rows.slice(start, start + CHUNK_ROWS)) {
      const row = convert(collection, header, cells)
      if (!row.ok) {
        report(line, row.message)
        continue
      }
      const email =
        hasEmailKey(collection) && typeof row.fields.email === 'string' && row.fields.email ? row.fields.email.toLowerCase() : undefined
      const key = email ? `email:${email}` : contentKey(row.fields, row.notes, row.items)
      const input: Record<string, unknown> = {
        ...row.fields,
        ...(row.notes === undefined ? {} : { notes: row.notes }),
        ...(row.items === undefined ? {} : { items: row.items }),
      }

      const earlier = seen.get(key) ?? (row.id && live.ids.has(row.id) ? Promise.resolve(row.id) : undefined)
      const owner = keyOwner.get(job.workspace, collection, key) as { record_id: string; job_id: string } | undefined
      const existing =
        earlier ?? (email && live.emails.get(email)) ?? (owner && live.ids.has(owner.record_id) ? owner.record_id : undefined)
      if (existing === undefined) {
        const created = deps.records.create(job.workspace, collection, input, job.userId).then((record) => {
          remember.run(job.workspace, collection, key, record.id, job.id)
          return record.id
        })
        seen.set(
          key,
          created.catch(() => null),
        )
        work.push(
          created.then(
            () => void counts.imported++,
            (error: unknown) => report(line, messageOf(error)),
          ),
        )
        continue
      }
      if (!earlier && owner?.job_id === job.id) {
        // Created by an earlier attempt of this very job (it was interrupted).
        seen.set(key, Promise.resolve(owner.record_id))
        counts.imported++
        continue
      }
      if (!seen.has(key)) seen.set(key, Promise.resolve(existing))
      if (mode === 'skip') {
        counts.skipped++
        continue
      }
      work.push(
        Promise.resolve(existing).then(async (id) => {
          if (id === null) return void counts.skipped++
          try {
            await deps.records.patch(job.workspace, collection, id, input, job.userId)
            counts.merged++
          } catch (error) {
            report(line, messageOf(error))
          }
        }),
      )
    }
    await Promise.all(work)
    ctx.progress({ ...counts })
  }
  errors.sort((a, b) => a.line - b.line)
  return { status: 'succeeded', counts: { ...counts }, errors }
}

function messageOf(error: unknown): string {
  if (error instanceof RecordError)
    return error.issues.length ? error.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : error.message
  throw error
}
