/**
 * CSV injection: a value that a spreadsheet would run as a formula is exported as text.
 * CSV cells starting with `=`, `+`, `-`, `@`, tab or carriage return get a leading `'`;
 * XLSX and Google Sheets cells stay typed strings, never formulas. Real server, real job,
 * real file (and the Sheets emulator for Google).
 */
import { parse } from 'csv-parse/sync'
import ExcelJS from 'exceljs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { csvText, headerOf } from '../server/jobs/connectors/table.js'
import { type Api, type TestServer, login, seedWorkspace } from './helpers/server.js'
import { finished, startServerWithSheets } from './helpers/jobs.js'
import { SheetsEmulator } from './sheets-emulator/SheetsEmulator.js'

let t: TestServer
let emulator: SheetsEmulator
let member: Api

/** Customer names a spreadsheet would read as formulas. */
const FORMULAS = ['=HYPERLINK("http://evil","x")', "=cmd|' /C calc'!A0", '+1+1', '-2+3', '@SUM(1)', '\t=1+1', '\r=1+1']
/** Customer id → the name it was created with. */
const names = new Map<string, string>()
let dealId = ''

beforeAll(async () => {
  emulator = new SheetsEmulator()
  t = await startServerWithSheets(emulator, { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 100 } })
  const users = await seedWorkspace(t.server)
  member = await login(t.url, users.member.email, users.member.password)
  for (const name of [...FORMULAS, 'Plain Name']) {
    const res = await member.request('POST', '/api/records/customers', { name, phone: '+1 555 0100' })
    expect(res.status).toBe(201)
    names.set(res.body.id as string, name)
  }
  const deal = await member.request('POST', '/api/records/deals', { title: 'Deal', amount: 250, customerId: [...names.keys()][0] })
  expect(deal.status).toBe(201)
  dealId = deal.body.id as string
})
afterAll(async () => {
  await t.close()
  await emulator.close()
})

async function exportJob(body: Record<string, unknown>): Promise<any> {
  const res = await member.request('POST', '/api/exports', body)
  expect(res.status).toBe(202)
  const job = await finished(member, `/api/exports/${res.body.id}`)
  expect(job.status).toBe('succeeded')
  return job
}

async function download(id: string): Promise<Buffer> {
  const res = await fetch(`${t.url}/api/exports/${id}/file`, { headers: { authorization: `Bearer ${member.token}` } })
  expect(res.status).toBe(200)
  return Buffer.from(await res.arrayBuffer())
}

const column = (name: string) => headerOf('customers').indexOf(name)

describe('formula injection in exports', () => {
  it("[FX1] a CSV cell starting with =, +, -, @, tab or CR is prefixed with ' ; other text and numbers are written as they are", async () => {
    const job = await exportJob({ target: 'csv', collections: ['customers'] })
    const rows = parse(await download(job.id), { bom: true }) as string[][]
    const byId = new Map(rows.slice(1).map((row) => [row[0]!, row]))
    expect(byId.size).toBe(names.size)
    for (const [id, name] of names) {
      const row = byId.get(id)!
      expect(row[column('name')]).toBe(name === 'Plain Name' ? name : `'${name}`)
      expect(row[column('phone')]).toBe("'+1 555 0100")
    }

    const deals = parse(await download((await exportJob({ target: 'csv', collections: ['deals'] })).id), { bom: true }) as string[][]
    expect(deals[1]![0]).toBe(dealId)
    expect(deals[1]![headerOf('deals').indexOf('amount')]).toBe('250')
    // A name shown for a reference is defused like any other text.
    expect(deals[1]![headerOf('deals').indexOf('customer')]).toBe(`'${FORMULAS[0]}`)
  })

  it('[FX2] the CSV text of a number is never prefixed, a negative one included; a string that looks like a sum is', () => {
    expect(csvText(-5)).toBe('-5')
    expect(csvText(0)).toBe('0')
    expect(csvText(true)).toBe('true')
    expect(csvText('-2+3')).toBe("'-2+3")
    expect(csvText('a=b')).toBe('a=b')
    expect(csvText('')).toBe('')
  })

  it('[FX3] XLSX writes such values as string cells, never formulas', async () => {
    const job = await exportJob({ target: 'xlsx', collections: ['customers'] })
    const workbook = new ExcelJS.Workbook()
    await workbook.xlsx.load((await download(job.id)) as unknown as ArrayBuffer)
    const sheet = workbook.getWorksheet('customers')!
    expect(sheet.rowCount).toBe(names.size + 1)
    for (let r = 2; r <= sheet.rowCount; r++) {
      const row = sheet.getRow(r)
      const name = names.get(String(row.getCell(1).value))!
      for (const [cell, value] of [
        // XML reads a lone carriage return back as a line feed; the cell is still text.
        [row.getCell(column('name') + 1), name.replace(/\r/g, '\n')],
        [row.getCell(column('phone') + 1), '+1 555 0100'],
      ] as const) {
        expect(cell.type).toBe(ExcelJS.ValueType.String)
        expect(cell.formula).toBeUndefined()
        expect(cell.value).toBe(value)
      }
    }
  })

  it('[FX4] Google Sheets receives such values with valueInputOption RAW and stores them as the strings they are', async () => {
    emulator.createSpreadsheet('formulas')
    await exportJob({ target: 'sheets', spreadsheetId: 'formulas', collections: ['customers'] })
    expect(emulator.valueInputOptions.length).toBeGreaterThan(0)
    expect(new Set(emulator.valueInputOptions)).toEqual(new Set(['RAW']))
    const grid = emulator.values('formulas', 'customers (member of acme)')
    const stored = new Map(grid.slice(1).map((row) => [String(row[0]), row]))
    for (const [id, name] of names) {
      expect(stored.get(id)?.[column('name')]).toBe(name)
      expect(stored.get(id)?.[column('phone')]).toBe('+1 555 0100')
    }
  })
})
