/**
 * XLSX export with exceljs's streaming writer: one worksheet per table (a collection, or its
 * line items), rows committed page by page so memory and event-loop turns stay small. Cells
 * are typed: dates and instants are dates (UTC), amounts numbers with two decimals; the header
 * row is bold and frozen, and columns are as wide as their kind of content needs.
 */
import type { Collection } from '../../../shared/collections.js'
import type { JobContext } from '../JobRunner.js'
import { type ExportSource, type FileResult, exportTables, fileCounts, writeAtomically } from './fileExport.js'
import type { Cell, Column, ColumnKind } from './table.js'

/** Excel's limit on one cell, in characters. */
export const MAX_XLSX_CELL_CHARS = 32_767

/** Column widths in characters, by what a column holds (at least its header's). */
const WIDTHS: Record<ColumnKind, number> = { id: 22, text: 24, long: 48, list: 30, number: 10, money: 14, date: 12, instant: 18 }
const FORMATS: Partial<Record<ColumnKind, string>> = { money: '#,##0.00', date: 'yyyy-mm-dd', instant: 'yyyy-mm-dd hh:mm' }

/** A cell as XLSX holds it: a date for dates and instants, nothing for the empty string. */
export function xlsxValue(kind: ColumnKind, cell: Cell): Cell | Date | null {
  if (cell === '') return null
  if ((kind === 'date' || kind === 'instant') && typeof cell === 'string') {
    const ms = Date.parse(cell)
    return Number.isNaN(ms) ? cell : new Date(ms)
  }
  return typeof cell === 'string' && cell.length > MAX_XLSX_CELL_CHARS ? cell.slice(0, MAX_XLSX_CELL_CHARS) : cell
}

const columnOf = (column: Column) => ({
  header: column.name,
  width: Math.max(WIDTHS[column.kind], column.name.length + 2),
  style: FORMATS[column.kind] ? { numFmt: FORMATS[column.kind] } : {},
})

export async function exportXlsx(source: ExportSource, collections: Collection[], stem: string, ctx: JobContext): Promise<FileResult> {
  // Loaded on the first XLSX export: exceljs adds about 20 MB to a server that never uses it.
  const { default: ExcelJS } = await import('exceljs')
  let exported = 0
  const onRecords = (n: number) => {
    exported += n
    ctx.progress(fileCounts(exported))
  }
  const file = `${stem}.xlsx`
  await writeAtomically(file, async (tmp) => {
    const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: tmp, useStyles: true, useSharedStrings: false })
    workbook.creator = 'Accord'
    for await (const table of exportTables(source, collections, ctx, onRecords)) {
      const sheet = workbook.addWorksheet(table.name, { views: [{ state: 'frozen', ySplit: 1 }] })
      sheet.columns = table.columns.map(columnOf)
      const header = sheet.getRow(1)
      header.font = { bold: true }
      header.commit()
      const kinds = table.columns.map((column) => column.kind)
      for await (const rows of table.rows) for (const row of rows) sheet.addRow(row.map((cell, i) => xlsxValue(kinds[i]!, cell))).commit()
      sheet.commit()
    }
    await workbook.commit()
  })
  const date = new Date().toISOString().slice(0, 10)
  return {
    file,
    contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    downloadName: `accord-${date}.xlsx`,
    counts: fileCounts(exported),
  }
}
