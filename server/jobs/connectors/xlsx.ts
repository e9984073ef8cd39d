/**
 * XLSX export with exceljs's streaming writer: one worksheet per collection, rows
 * committed page by page so memory and event-loop turns stay small.
 */
import type { Collection } from '../../../shared/collections.js'
import type { RecordService } from '../../records/RecordService.js'
import type { JobContext } from '../JobRunner.js'
import { type FileResult, pagesOf, writeAtomically } from './fileExport.js'
import { headerOf, rowOf } from './table.js'

export async function exportXlsx(
  records: RecordService,
  workspace: string,
  collections: Collection[],
  file: string,
  ctx: JobContext,
): Promise<FileResult> {
  // Loaded on the first XLSX export: exceljs adds about 20 MB to a server that never uses it.
  const { default: ExcelJS } = await import('exceljs')
  let exported = 0
  await writeAtomically(file, async (tmp) => {
    const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: tmp, useStyles: false, useSharedStrings: false })
    workbook.creator = 'Accord'
    for (const collection of collections) {
      const sheet = workbook.addWorksheet(collection)
      sheet.addRow(headerOf(collection)).commit()
      for await (const page of pagesOf(records, workspace, collection, ctx)) {
        for (const record of page) sheet.addRow(rowOf(collection, record)).commit()
        exported += page.length
        ctx.progress({ exported, added: 0, updated: 0, deleted: 0 })
      }
      sheet.commit()
    }
    await workbook.commit()
  })
  const date = new Date().toISOString().slice(0, 10)
  return {
    file,
    contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    downloadName: `accord-${date}.xlsx`,
    counts: { exported, added: 0, updated: 0, deleted: 0 },
  }
}
