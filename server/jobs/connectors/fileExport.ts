/**
 * What the file connectors share: reading a collection's live records page by page
 * (yielding between pages) as the tables of an export, and writing the result atomically.
 */
import { rename, rm } from 'node:fs/promises'
import type { Collection } from '../../../shared/collections.js'
import type { ApiRecord } from '../../records/RecordReads.js'
import type { RecordService } from '../../records/RecordService.js'
import type { JobContext } from '../JobRunner.js'
import { type NameSources, ReferenceNames } from './ReferenceNames.js'
import { type Cell, type Column, ITEM_TABLES, columnsOf, itemColumnsOf, itemRowsOf, rowOf } from './table.js'

/** Records read and written per chunk of work (one chunk per event-loop turn across all jobs). */
export const EXPORT_PAGE = 200

/** Live records of a collection in id order, one page per event-loop turn. */
export async function* pagesOf(
  records: RecordService,
  workspace: string,
  collection: Collection,
  ctx: JobContext,
): AsyncGenerator<ApiRecord[]> {
  let cursor: string | undefined
  for (;;) {
    await ctx.checkpoint()
    const page = await records.list(workspace, collection, { limit: EXPORT_PAGE, cursor })
    if (page.items.length > 0) yield page.items
    if (!page.nextCursor) return
    cursor = page.nextCursor
  }
}

/** What a file export reads. */
export interface ExportSource {
  records: RecordService
  names: NameSources
  workspace: string
}

/** One table of an export: a CSV file or a worksheet. Its rows must be read before the next table is asked for. */
export interface ExportTable {
  name: string
  columns: Column[]
  rows: AsyncIterable<Cell[][]>
}

/** Whether an export of `collections` is more than one table (a CSV export of it is a ZIP). */
export const manyTables = (collections: readonly Collection[]) => collections.length > 1 || ITEM_TABLES[collections[0]!] !== undefined

/**
 * The tables of an export of `collections`: each collection's, then its line items' (read in
 * the same pass and kept until then, so both tables show the same records). `onRecords` is told
 * how many records each page held.
 */
export async function* exportTables(
  source: ExportSource,
  collections: readonly Collection[],
  ctx: JobContext,
  onRecords: (n: number) => void,
): AsyncGenerator<ExportTable> {
  const names = new ReferenceNames(source.names, source.workspace)
  for (const collection of collections) {
    const items = ITEM_TABLES[collection]
    const itemRows: Cell[][] = []
    async function* rows(): AsyncGenerator<Cell[][]> {
      for await (const page of pagesOf(source.records, source.workspace, collection, ctx)) {
        await names.load(collection, page)
        if (items) for (const record of page) itemRows.push(...itemRowsOf(collection, record).map((row) => row.cells))
        yield page.map((record) => rowOf(collection, record, names))
        onRecords(page.length)
      }
    }
    yield { name: collection, columns: columnsOf(collection), rows: rows() }
    if (!items) continue
    async function* chunks(): AsyncGenerator<Cell[][]> {
      for (let i = 0; i < itemRows.length; i += EXPORT_PAGE) {
        await ctx.checkpoint()
        yield itemRows.slice(i, i + EXPORT_PAGE)
      }
    }
    yield { name: items.table, columns: itemColumnsOf(collection), rows: chunks() }
  }
}

/** Writes through `write(tmp)` then renames, so a file is either whole or absent; re-running overwrites it. */
export async function writeAtomically(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${file}.partial`
  try {
    await write(tmp)
    await rename(tmp, file)
  } finally {
    await rm(tmp, { force: true })
  }
}

/** What a file export produced. */
export interface FileResult {
  file: string
  contentType: string
  downloadName: string
  counts: { exported: number; added: number; updated: number; deleted: number }
}

/** The counts of a file export that wrote `exported` records. */
export const fileCounts = (exported: number) => ({ exported, added: 0, updated: 0, deleted: 0 })
