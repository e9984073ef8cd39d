/**
 * CSV export: one CSV per collection; a job of several collections is one ZIP of them.
 */
import { writeFile } from 'node:fs/promises'
import type { Collection } from '../../../shared/collections.js'
import type { RecordService } from '../../records/RecordService.js'
import type { JobContext } from '../JobRunner.js'
import { type FileResult, pagesOf, writeAtomically } from './fileExport.js'
import { headerOf, rowOf, textRow } from './table.js'

/** The CSV text of a collection, built one page at a time. */
async function csvOf(
  records: RecordService,
  workspace: string,
  collection: Collection,
  ctx: JobContext,
  onRows: (n: number) => void,
): Promise<string> {
  // Loaded on the first CSV export, like exceljs: a server that never exports does not hold it.
  const { stringify } = await import('csv-stringify/sync')
  const parts = [stringify([headerOf(collection)], { bom: true })]
  for await (const page of pagesOf(records, workspace, collection, ctx)) {
    parts.push(stringify(page.map((record) => textRow(rowOf(collection, record)))))
    onRows(page.length)
  }
  return parts.join('')
}

export async function exportCsv(
  records: RecordService,
  workspace: string,
  collections: Collection[],
  file: string,
  ctx: JobContext,
): Promise<FileResult> {
  let exported = 0
  const onRows = (n: number) => {
    exported += n
    ctx.progress({ exported, added: 0, updated: 0, deleted: 0 })
  }
  const date = new Date().toISOString().slice(0, 10)
  if (collections.length === 1) {
    const text = await csvOf(records, workspace, collections[0]!, ctx, onRows)
    await writeAtomically(file, (tmp) => writeFile(tmp, text))
    return {
      file,
      contentType: 'text/csv; charset=utf-8',
      downloadName: `${collections[0]}-${date}.csv`,
      counts: { exported, added: 0, updated: 0, deleted: 0 },
    }
  }
  const { default: JSZip } = await import('jszip')
  const zip = new JSZip()
  for (const collection of collections)
    zip.file(`${collection}.csv`, await csvOf(records, workspace, collection, ctx, onRows), { date: new Date(0) })
  const bytes = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', streamFiles: true })
  await writeAtomically(file, (tmp) => writeFile(tmp, bytes))
  return {
    file,
    contentType: 'application/zip',
    downloadName: `accord-${date}.zip`,
    counts: { exported, added: 0, updated: 0, deleted: 0 },
  }
}
