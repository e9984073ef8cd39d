/**
 * Google Sheets export: one tab per collection (and one for the line items of proposals and
 * invoices), synced incrementally against what this user's last export to that spreadsheet
 * wrote (kept in `sheet_state`). Rows are in
 * record-id order; only rows whose content changed at their position are written, with
 * explicit ranges, in requests under `maxRequestBytes`; rows past the new end are cleared.
 * Re-running an export writes the same cells, so a retried or repeated job is harmless.
 */
import { createHash } from 'node:crypto'
import type { Collection } from '../../../shared/collections.js'
import type { RecordService } from '../../records/RecordService.js'
import type { JobContext } from '../JobRunner.js'
import type { JobStateStore, SheetTab, TabState } from '../JobStateStore.js'
import { pagesOf } from './fileExport.js'
import type { CallOptions, SheetsApi, ValueRange } from './sheetsClient.js'
import { type NameSources, ReferenceNames } from './ReferenceNames.js'
import { type Cell, ITEM_TABLES, headerOf, itemColumnsOf, itemRowsOf, rowOf } from './table.js'

/** Google's limit on one cell, in characters. */
export const MAX_CELL_CHARS = 50_000
/** Google rejects requests over 2 MB; stay well under it. */
export const DEFAULT_MAX_REQUEST_BYTES = 1_500_000
/** Rows per range before size-based packing. */
const ROWS_PER_RANGE = 500

export interface SheetsCounts {
  exported: number
  added: number
  updated: number
  deleted: number
}

interface Row {
  id: string
  cells: Cell[]
  hash: string
}

export function columnName(index: number): string {
  let name = ''
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name
  return name
}

const quoteTab = (tab: string) => `'${tab.replace(/'/g, "''")}'`
const rangeOf = (tab: string, firstRow: number, lastRow: number, width: number) =>
  `${quoteTab(tab)}!A${firstRow}:${columnName(width - 1)}${lastRow}`
const byteSize = (value: unknown) => Buffer.byteLength(JSON.stringify(value))
const clip = (cell: Cell): Cell => (typeof cell === 'string' && cell.length > MAX_CELL_CHARS ? cell.slice(0, MAX_CELL_CHARS) : cell)

/** Record-level changes since the last export: what the user reads in `counts`. */
export function diffCounts(previous: TabState['rows'], current: Row[]): Omit<SheetsCounts, 'exported'> {
  const before = new Map(previous)
  let added = 0
  let updated = 0
  for (const row of current) {
    const hash = before.get(row.id)
    if (hash === undefined) added++
    else if (hash !== row.hash) updated++
  }
  const now = new Set(current.map((row) => row.id))
  const deleted = previous.filter(([id]) => !now.has(id)).length
  return { added, updated, deleted }
}

/** Value ranges for the rows whose content differs at their position (row 1 is the header). */
export function changedRanges(tab: string, header: string[], previous: TabState, rows: Row[]): ValueRange[] {
  const headerChanged = JSON.stringify(previous.header) !== JSON.stringify(header)
  const ranges: ValueRange[] = []
  if (headerChanged) ranges.push({ range: rangeOf(tab, 1, 1, header.length), values: [header] })
  let start = -1
  const flush = (end: number) => {
    for (let from = start; from < end; from += ROWS_PER_RANGE) {
      const to = Math.min(end, from + ROWS_PER_RANGE)
      ranges.push({ range: rangeOf(tab, from + 2, to + 1, header.length), values: rows.slice(from, to).map((row) => row.cells) })
    }
    start = -1
  }
  rows.forEach((row, i) => {
    const same = !headerChanged && previous.rows[i]?.[1] === row.hash && previous.rows[i]?.[0] === row.id
    if (!same && start < 0) start = i
    if (same && start >= 0) flush(i)
  })
  if (start >= 0) flush(rows.length)
  return ranges
}

/** Splits a range in two by rows (for one that alone exceeds the request limit). */
function halve(range: ValueRange): ValueRange[] {
  const match = /^(.*)!A(\d+):([A-Z]+)(\d+)$/.exec(range.range)
  if (!match || range.values.length < 2) return [range]
  const [, tab, first, col] = match as unknown as [string, string, string, string]
  const half = Math.ceil(range.values.length / 2)
  const mid = Number(first) + half
  return [
    { range: `${tab}!A${first}:${col}${mid - 1}`, values: range.values.slice(0, half) },
    { range: `${tab}!A${mid}:${col}${Number(first) + range.values.length - 1}`, values: range.values.slice(half) },
  ]
}

/** Packs value ranges into batches each under `maxBytes` of JSON. */
export function packRequests(ranges: ValueRange[], maxBytes: number): ValueRange[][] {
  const batches: ValueRange[][] = []
  let batch: ValueRange[] = []
  let size = 0
  const queue = [...ranges]
  while (queue.length > 0) {
    const range = queue.shift()!
    const bytes = byteSize(range)
    if (bytes > maxBytes && range.values.length > 1) {
      queue.unshift(...halve(range))
      continue
    }
    if (batch.length > 0 && size + bytes > maxBytes) {
      batches.push(batch)
      batch = []
      size = 0
    }
    batch.push(range)
    size += bytes
  }
  if (batch.length > 0) batches.push(batch)
  return batches
}

const EMPTY_TAB: SheetTab = { header: [], rows: [], jobId: null, baseline: { header: [], rows: [] } }

export interface SheetsExportDeps {
  state: JobStateStore
  records: RecordService
  names: NameSources
  api: SheetsApi
  maxRequestBytes: number
}

const rowFor = (id: string, cells: Cell[]): Row => {
  const clipped = cells.map(clip)
  return { id, cells: clipped, hash: createHash('sha1').update(JSON.stringify(clipped)).digest('base64url').slice(0, 16) }
}

/** The tabs an export of `collections` writes: each collection's, and its line items' after it. */
export const tabsOf = (collections: readonly Collection[]) =>
  collections.flatMap((collection) => [collection, ...(ITEM_TABLES[collection] ? [ITEM_TABLES[collection].table] : [])])

/** Where an export writes, and whose sync state it reads. */
export interface SheetsDestination {
  spreadsheetId: string
  /** The sync state's owner: the user, or "" for a workspace's spreadsheet, synced for everyone. */
  stateOwner: string
  /**
   * Added to every tab's name (" (Ada Lovelace)") in a user's own spreadsheet: two people who
   * save the same spreadsheet each get their own tabs instead of overwriting each other's.
   */
  tabSuffix: string
}

/** Google's longest tab name. */
const MAX_TAB_CHARS = 100

export const tabName = (tab: string, suffix: string) => `${tab}${suffix}`.slice(0, MAX_TAB_CHARS)

export async function exportSheets(
  deps: SheetsExportDeps,
  destination: SheetsDestination,
  collections: Collection[],
  ctx: JobContext,
): Promise<SheetsCounts> {
  const { job } = ctx
  const { spreadsheetId, tabSuffix } = destination
  const named = (tab: string) => tabName(tab, tabSuffix)
  // A request waiting to be tried again shows on the job, until one goes through.
  const call: CallOptions = {
    signal: ctx.signal,
    onWait: (wait) => ctx.retrying(wait && { attempt: wait.attempt, of: wait.of, reason: wait.reason, nextAt: Date.now() + wait.delayMs }),
  }
  const existing = new Set(await deps.api.tabTitles(spreadsheetId, call))
  const missing = tabsOf(collections)
    .map(named)
    .filter((tab) => !existing.has(tab))
  if (missing.length > 0) await deps.api.addTabs(spreadsheetId, missing, call)
  const names = new ReferenceNames(deps.names, job.workspace)
  const counts: SheetsCounts = { exported: 0, added: 0, updated: 0, deleted: 0 }
  for (const collection of collections) {
    const rows: Row[] = []
    const itemRows: Row[] = []
    for await (const page of pagesOf(deps.records, job.workspace, collection, ctx)) {
      await names.load(collection, page)
      for (const record of page) {
        rows.push(rowFor(record.id, rowOf(collection, record, names)))
        for (const item of itemRowsOf(collection, record)) itemRows.push(rowFor(item.id, item.cells))
      }
    }
    const tab = { spreadsheetId, stateOwner: destination.stateOwner, ctx, call }
    const diff = await syncTab(deps, tab, named(collection), headerOf(collection), rows)
    const items = ITEM_TABLES[collection]
    // Counts are of records: an items tab changes with its records.
    if (items)
      await syncTab(
        deps,
        tab,
        named(items.table),
        itemColumnsOf(collection).map((column) => column.name),
        itemRows,
      )
    counts.exported += rows.length
    counts.added += diff.added
    counts.updated += diff.updated
    counts.deleted += diff.deleted
    ctx.progress({ ...counts })
  }
  return counts
}

/**
 * Brings one tab from what the user's last export wrote to `rows`, and remembers it. Returns
 * the rows added, updated and deleted since the export before this job (a retried job reports
 * what its first attempt would have).
 */
async function syncTab(
  deps: SheetsExportDeps,
  { spreadsheetId, stateOwner, ctx, call }: { spreadsheetId: string; stateOwner: string; ctx: JobContext; call: CallOptions },
  tab: string,
  header: string[],
  rows: Row[],
): Promise<Omit<SheetsCounts, 'exported'>> {
  const stateName = { userId: stateOwner, spreadsheetId, tab }
  const previous: SheetTab = (await deps.state.sheetTab(stateName)) ?? EMPTY_TAB
  const baseline = previous.jobId === ctx.job.id ? previous.baseline : { header: previous.header, rows: previous.rows }
  const diff = diffCounts(baseline.rows, rows)
  for (const batch of packRequests(changedRanges(tab, header, previous, rows), deps.maxRequestBytes)) {
    await ctx.checkpoint()
    await deps.api.writeRanges(spreadsheetId, batch, call)
  }
  const width = Math.max(header.length, previous.header.length)
  if (rows.length < previous.rows.length) {
    await deps.api.clearRanges(spreadsheetId, [rangeOf(tab, rows.length + 2, previous.rows.length + 1, width)], call)
  }
  await deps.state.saveSheetTab(stateName, { header, rows: rows.map((row) => [row.id, row.hash]), jobId: ctx.job.id, baseline })
  return diff
}
