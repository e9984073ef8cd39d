/**
 * Export files people can read, from the demo workspace: references as names with the id
 * beside them, line items one row per item in a table of their own with totals, XLSX dates
 * and amounts as typed cells with formats, a bold frozen header and set widths, and ZIP
 * entries dated when the export ran. Real server, real jobs, files read back with csv-parse,
 * exceljs and JSZip.
 */
import { parse } from 'csv-parse/sync'
import ExcelJS from 'exceljs'
import JSZip from 'jszip'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEMO_PASSWORD, DEMO_USERS, seedDemo } from '../server/seed/demo.js'
import { headerOf, itemColumnsOf } from '../server/jobs/connectors/table.js'
import { describeBackends } from './helpers/backends.js'
import { finished, uploadCsv } from './helpers/jobs.js'
import { type Api, type TestServer, login, startServer } from './helpers/server.js'

type Row = Record<string, string>

/** A CSV's rows as objects by header. */
function rowsOf(csv: string | Buffer): Row[] {
  const [header, ...rows] = parse(csv, { bom: true }) as string[][]
  return rows.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i]!])))
}

describeBackends('readable export files', (backend) => {
  let t: TestServer
  let alice: Api
  /** Records of the demo workspace by collection, as the API serves them. */
  const live: Record<string, any[]> = {}
  const userName = new Map<string, string>()
  let orphan: any

  beforeAll(async () => {
    t = await startServer({ backend: backend.kind, jobs: { pollMs: 100 } })
    await seedDemo(t.server)
    alice = await login(t.url, 'alice@demo.test', DEMO_PASSWORD)
    // A deal whose customer was deleted since still names it.
    const gone = await alice.request('POST', '/api/records/customers', { name: 'Vanished Ltd' })
    orphan = (await alice.request('POST', '/api/records/deals', { title: 'Orphan deal', customerId: gone.body.id, amount: 0.1 })).body
    expect((await alice.request('DELETE', `/api/records/customers/${gone.body.id}`)).status).toBe(204)
    for (const collection of ['customers', 'leads', 'deals', 'proposals', 'invoices', 'events'])
      live[collection] = (await alice.request('GET', `/api/records/${collection}?limit=100`)).body.items
    for (const user of (await alice.request('GET', '/api/users')).body.items) userName.set(user.id, user.name)
    expect(userName.size).toBe(DEMO_USERS.length)
  })
  afterAll(() => t.close())

  async function exportFile(body: Record<string, unknown>): Promise<{ job: any; bytes: Buffer; type: string | null }> {
    const res = await alice.request('POST', '/api/exports', body)
    expect(res.status).toBe(202)
    const job = await finished(alice, `/api/exports/${res.body.id}`)
    expect(job.status).toBe('succeeded')
    const file = await fetch(`${t.url}${job.file}`, { headers: { authorization: `Bearer ${alice.token}` } })
    expect(file.status).toBe(200)
    return { job, bytes: Buffer.from(await file.arrayBuffer()), type: file.headers.get('content-type') }
  }

  const titleOf = (collection: string, id: string) =>
    live[collection]!.find((r) => r.id === id)?.[collection === 'customers' ? 'name' : 'title']

  it('[EXR1] a CSV export is a ZIP of one CSV per table, dated now: references by name with the id beside, items in their own file with totals', async () => {
    const before = Date.now()
    const { job, bytes, type } = await exportFile({ target: 'csv' })
    expect(type).toBe('application/zip')
    const zip = await JSZip.loadAsync(bytes)
    expect(Object.keys(zip.files)).toEqual([
      'customers.csv',
      'leads.csv',
      'deals.csv',
      'proposals.csv',
      'proposal-items.csv',
      'invoices.csv',
      'invoice-items.csv',
      'events.csv',
      'tasks.csv',
    ])
    // Dated when the export ran (a ZIP keeps two-second steps), not in 2098.
    for (const entry of Object.values(zip.files)) {
      expect(entry.date.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 2000) * 2000 - 2000)
      expect(entry.date.getTime()).toBeLessThanOrEqual(Date.parse(job.finishedAt) + 2000)
    }
    const read = async (name: string) => rowsOf(await zip.file(name)!.async('nodebuffer'))

    const customers = await read('customers.csv')
    expect(customers.map((r) => [r.name, r.owner])).toEqual(live.customers!.map((r) => [r.name, userName.get(r.ownerId)]))
    expect(customers.map((r) => r.ownerId)).toEqual(live.customers!.map((r) => r.ownerId))

    const deals = await read('deals.csv')
    expect(Object.keys(deals[0]!).slice(0, 5)).toEqual(['id', 'title', 'customer', 'customerId', 'stage'])
    for (const row of deals) {
      const record = live.deals!.find((r) => r.id === row.id)
      expect(row.customerId).toBe(record.customerId ?? '')
      expect(row.owner).toBe(record.ownerId ? userName.get(record.ownerId) : '')
      if (row.id !== orphan.id) expect(row.customer).toBe(titleOf('customers', record.customerId))
    }
    expect(deals.find((r) => r.id === orphan.id)).toMatchObject({ customer: 'Vanished Ltd', amount: '0.1' })
    expect(deals.filter((r) => r.customer === 'Acme Corp').length).toBe(3)

    const events = await read('events.csv')
    const kickoff = events.find((r) => r.title === 'Acme kickoff')!
    expect(kickoff).toMatchObject({ attendeeNames: 'Alice Archer, Bob Baker', customer: 'Acme Corp' })
    expect(kickoff.attendees!.split(', ')).toEqual(live.events!.find((r) => r.title === 'Acme kickoff').attendees)

    const proposals = await read('proposals.csv')
    expect(Object.keys(proposals[0]!)).not.toContain('items')
    expect(proposals).toMatchObject([{ title: 'Acme renewal proposal', deal: 'Acme renewal', total: '8500' }])
    expect(parse(await zip.file('proposal-items.csv')!.async('nodebuffer'), { bom: true })[0]).toEqual(
      itemColumnsOf('proposals').map((c) => c.name),
    )
    expect(await read('proposal-items.csv')).toEqual([
      {
        proposalId: proposals[0]!.id,
        proposal: 'Acme renewal proposal',
        line: '1',
        description: 'Licences',
        quantity: '50',
        unitPrice: '120',
        amount: '6000',
      },
      {
        proposalId: proposals[0]!.id,
        proposal: 'Acme renewal proposal',
        line: '2',
        description: 'Onboarding',
        quantity: '1',
        unitPrice: '2500',
        amount: '2500',
      },
    ])
    expect(await read('invoices.csv')).toMatchObject([{ customer: 'Acme Corp', deal: 'Acme training', total: '3600' }])
    expect(await read('invoice-items.csv')).toMatchObject([{ line: '1', description: 'Training day', quantity: '2', amount: '3600' }])
  })

  it('[EXR2] one collection without items is one CSV; one with items is a ZIP of it and its items', async () => {
    const customers = await exportFile({ target: 'csv', collections: ['customers'] })
    expect(customers.type).toMatch(/text\/csv/)
    expect(rowsOf(customers.bytes).length).toBe(live.customers!.length)
    const invoices = await exportFile({ target: 'csv', collections: ['invoices'] })
    expect(invoices.type).toBe('application/zip')
    expect(Object.keys((await JSZip.loadAsync(invoices.bytes)).files)).toEqual(['invoices.csv', 'invoice-items.csv'])
  })

  it('[EXR3] XLSX: dates, instants and amounts are typed cells with formats; the header is bold and frozen; columns have widths', async () => {
    const { bytes } = await exportFile({ target: 'xlsx' })
    const workbook = new ExcelJS.Workbook()
    await workbook.xlsx.load(bytes as unknown as ArrayBuffer)
    expect(workbook.worksheets.map((w) => w.name)).toEqual([
      'customers',
      'leads',
      'deals',
      'proposals',
      'proposal-items',
      'invoices',
      'invoice-items',
      'events',
      'tasks',
    ])
    for (const sheet of workbook.worksheets) {
      expect(sheet.getRow(1).font?.bold).toBe(true)
      expect(sheet.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 })
      expect(sheet.getColumn(1).width).toBeGreaterThanOrEqual(20)
    }
    /** A cell by the name of its column (row 1 holds the names; exceljs counts from 1). */
    const cellOf = (sheet: string, row: number, column: string) => {
      const worksheet = workbook.getWorksheet(sheet)!
      return worksheet.getRow(row).getCell((worksheet.getRow(1).values as unknown[]).indexOf(column))
    }
    expect(workbook.getWorksheet('deals')!.getRow(1).values).toEqual([undefined, ...headerOf('deals')])
    const deals = workbook.getWorksheet('deals')!
    expect(deals.rowCount).toBe(live.deals!.length + 1)
    for (let row = 2; row <= deals.rowCount; row++) {
      const record = live.deals!.find((r) => r.id === cellOf('deals', row, 'id').value)
      const close = cellOf('deals', row, 'closeDate')
      if (record.closeDate) {
        expect(close.value).toBeInstanceOf(Date)
        expect((close.value as Date).toISOString()).toBe(`${record.closeDate}T00:00:00.000Z`)
        expect(close.numFmt).toBe('yyyy-mm-dd')
      } else expect(close.value).toBeNull()
      expect(cellOf('deals', row, 'amount')).toMatchObject({ value: record.amount, numFmt: '#,##0.00' })
      expect(cellOf('deals', row, 'customer').value).toBe(
        record.id === orphan.id ? 'Vanished Ltd' : titleOf('customers', record.customerId),
      )
      expect((cellOf('deals', row, 'updatedAt').value as Date).toISOString()).toBe(record.updatedAt)
    }
    const events = workbook.getWorksheet('events')!
    for (let row = 2; row <= events.rowCount; row++) {
      const record = live.events!.find((r) => r.id === cellOf('events', row, 'id').value)
      expect((cellOf('events', row, 'start').value as Date).toISOString()).toBe(new Date(record.start).toISOString())
      expect(cellOf('events', row, 'start').numFmt).toBe('yyyy-mm-dd hh:mm')
    }
    expect(cellOf('proposals', 2, 'total')).toMatchObject({ value: 8500, numFmt: '#,##0.00' })
    expect(cellOf('proposal-items', 3, 'description').value).toBe('Onboarding')
    expect(cellOf('proposal-items', 3, 'unitPrice')).toMatchObject({ value: 2500, numFmt: '#,##0.00' })
    expect(cellOf('invoice-items', 2, 'amount').value).toBe(3600)
  })

  it('[EXR4] an exported CSV imports back: the name and total columns are read-only, not unknown', async () => {
    const { bytes } = await exportFile({ target: 'csv', collections: ['deals'] })
    const upload = await uploadCsv(t.url, alice, 'deals', bytes.toString('utf8'))
    expect(upload.status).toBe(202)
    const job = await finished(alice, `/api/imports/${upload.body.id}`)
    expect(job).toMatchObject({ status: 'succeeded', errors: [], counts: { imported: 0, skipped: live.deals!.length, invalid: 0 } })
  })
})
