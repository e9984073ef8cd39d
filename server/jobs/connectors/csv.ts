/**
 * CSV export: one CSV per table (a collection, or its line items); a job of one table is that
 * CSV, of several a ZIP of them, each file dated when the export ran.
 */
import { writeFile } from 'node:fs/promises'
import type { Collection } from '../../../shared/collections.js'
import type { JobContext } from '../JobRunner.js'
import {
  type ExportSource,
  type ExportTable,
  type FileResult,
  exportTables,
  fileCounts,
  manyTables,
  writeAtomically,
} from './fileExport.js'
import { textRow } from './table.js'

/** The CSV text of a table, built one page at a time. */
async function csvOf(table: ExportTable): Promise<string> {
  // Loaded on the first CSV export, like exceljs: a server that never exports does not hold it.
  const { stringify } = await import('csv-stringify/sync')
  const parts = [stringify([table.columns.map((column) => column.name)], { bom: true })]
  for await (const rows of table.rows) parts.push(stringify(rows.map(textRow)))
  return parts.join('')
}

/** Writes `collections` to `stem` + `.csv`, or `.zip` when they make several tables. */
export async function exportCsv(source: ExportSource, collections: Collection[], stem: string, ctx: JobContext): Promise<FileResult> {
  let exported = 0
  const onRecords = (n: number) => {
    exported += n
    ctx.progress(fileCounts(exported))
  }
  const now = new Date()
  const date = now.toISOString().slice(0, 10)
  const tables = exportTables(source, collections, ctx, onRecords)
  if (!manyTables(collections)) {
    const file = `${stem}.csv`
    for await (const table of tables) {
      const text = await csvOf(table)
      await writeAtomically(file, (tmp) => writeFile(tmp, text))
    }
    return { file, contentType: 'text/csv; charset=utf-8', downloadName: `${collections[0]}-${date}.csv`, counts: fileCounts(exported) }
  }
  const { default: JSZip } = await import('jszip')
  const zip = new JSZip()
  // A ZIP entry's MS-DOS date counts years from 1980 (JSZip writes UTC): a date before it, such as
  // the epoch, wraps around to 2098.
  for await (const table of tables) zip.file(`${table.name}.csv`, await csvOf(table), { date: now })
  const bytes = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', streamFiles: true })
  const file = `${stem}.zip`
  await writeAtomically(file, (tmp) => writeFile(tmp, bytes))
  return { file, contentType: 'application/zip', downloadName: `accord-${date}.zip`, counts: fileCounts(exported) }
}
