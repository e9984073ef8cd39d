/**
 * Google Sheets exports against the local Sheets emulator (the only stand-in: the real
 * server, real SQLite and the official googleapis client with real JWT auth over HTTP).
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { headerOf, itemColumnsOf } from '../server/jobs/connectors/table.js'
import { rmSync } from 'node:fs'
import { type Api, type SeededUsers, type TestServer, login, seedWorkspace, startServer } from './helpers/server.js'
import { describeBackends, sameDatabase } from './helpers/backends.js'
import { finished, startServerWithSheets, until } from './helpers/jobs.js'
import { SheetsEmulator } from './sheets-emulator/SheetsEmulator.js'

describeBackends('Google Sheets export', (backend) => {
  let t: TestServer
  let emulator: SheetsEmulator
  let owner: Api
  let member: Api
  let users: SeededUsers

  beforeAll(async () => {
    emulator = new SheetsEmulator()
    t = await startServerWithSheets(
      emulator,
      { retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 2000 }, maxRequestBytes: 200_000 },
      { backend: backend.kind },
    )
    users = await seedWorkspace(t.server)
    owner = await login(t.url, users.owner.email, users.owner.password)
    member = await login(t.url, users.member.email, users.member.password)
  })
  afterAll(async () => {
    await t.close()
    await emulator.close()
  })

  /** A tab of a spreadsheet named in the request: its user's own, named for them. */
  const own = (collection: string, who: 'owner' | 'member' = 'owner') => `${collection} (${who} of acme)`

  async function exportTo(api: Api, spreadsheetId: string, collections = ['customers']) {
    const res = await api.request('POST', '/api/exports', { target: 'sheets', spreadsheetId, collections })
    expect(res.status).toBe(202)
    // A runner polling meanwhile (on PostgreSQL, of any member) may have claimed it already.
    expect(['queued', 'running']).toContain(res.body.status)
    return finished(api, `/api/exports/${res.body.id}`)
  }

  /** The customers' rows as the sheet should hold them, in id order. */
  async function expectedRows(api: Api): Promise<unknown[][]> {
    const items: any[] = []
    let cursor: string | null = null
    do {
      const page: any = (await api.request('GET', `/api/records/customers?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).body
      items.push(...page.items)
      cursor = page.nextCursor
    } while (cursor)
    const header = headerOf('customers')
    return items.map((r) => {
      const row = header.map((c) => (Array.isArray(r[c]) ? r[c].join(', ') : (r[c] ?? '')))
      while (row.length > 0 && row.at(-1) === '') row.pop()
      return row
    })
  }

  it('[SH1] the first export adds every row; an edit, a delete and a create give 1 updated, 1 deleted, 1 added', async () => {
    emulator.createSpreadsheet('sheet-a')
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      const res = await owner.request('POST', '/api/records/customers', {
        name: `Customer ${i}`,
        email: `c${i}@example.test`,
        tags: ['a', 'b'],
        phone: i % 2 ? '+1 555' : '',
      })
      ids.push(res.body.id)
    }
    const first = await exportTo(owner, 'sheet-a')
    expect(first).toMatchObject({ status: 'succeeded', counts: { exported: 12, added: 12, updated: 0, deleted: 0 }, attempts: 1 })
    expect(emulator.values('sheet-a', own('customers'))).toEqual([headerOf('customers'), ...(await expectedRows(owner))])

    expect((await owner.request('PATCH', `/api/records/customers/${ids[3]}`, { company: 'Initech' })).status).toBe(200)
    expect((await owner.request('DELETE', `/api/records/customers/${ids[6]}`)).status).toBe(204)
    expect((await owner.request('POST', '/api/records/customers', { name: 'Newcomer', email: 'new@example.test' })).status).toBe(201)
    const writesBefore = emulator.writes().length
    const second = await exportTo(owner, 'sheet-a')
    expect(second).toMatchObject({ status: 'succeeded', counts: { exported: 12, added: 1, updated: 1, deleted: 1 } })
    expect(emulator.values('sheet-a', own('customers'))).toEqual([headerOf('customers'), ...(await expectedRows(owner))])
    // One batched write of the changed rows, one clear of the row past the end; no append ever.
    expect(emulator.writes().length - writesBefore).toBeLessThanOrEqual(2)
    expect(emulator.appendCalls).toBe(0)

    const third = await exportTo(owner, 'sheet-a')
    expect(third.counts).toEqual({ exported: 12, added: 0, updated: 0, deleted: 0 })
    expect(emulator.values('sheet-a', own('customers'))).toEqual([headerOf('customers'), ...(await expectedRows(owner))])
  })

  it('[SH2] injected 429s (with Retry-After) and 500s are retried and the export still succeeds', async () => {
    emulator.createSpreadsheet('sheet-b')
    emulator.fail(429, 2, 0)
    emulator.fail(500, 2)
    const job = await exportTo(owner, 'sheet-b')
    expect(job.status).toBe('succeeded')
    expect(job.counts.added).toBe(job.counts.exported)
    expect(emulator.requests.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(2)
    expect(emulator.requests.filter((r) => r.status === 500).length).toBeGreaterThanOrEqual(2)
    expect(emulator.values('sheet-b', own('customers'))).toEqual([headerOf('customers'), ...(await expectedRows(owner))])
  })

  it('[SH2b] a Retry-After of 1 s is honoured before the next attempt', async () => {
    emulator.createSpreadsheet('sheet-f')
    const before = emulator.requests.length
    emulator.fail(429, 1, 1)
    const job = await exportTo(owner, 'sheet-f')
    expect(job.status).toBe('succeeded')
    const [limited, next] = emulator.requests.slice(before)
    expect(limited!.status).toBe(429)
    expect(next!.at - limited!.at).toBeGreaterThanOrEqual(950)
  })

  it('[SH2c] while a 429 waits for its Retry-After the job is running with {retry: attempt, of, reason, nextAt}, stored (another server on the database shows it), counted in /metrics; then it succeeds without it', async () => {
    emulator.createSpreadsheet('sheet-g')
    const retries = async () => {
      const text = await (await fetch(`${t.url}/metrics`)).text()
      return Number(/accord_job_retries_total\{target="sheets",reason="quota"\} (\d+)/.exec(text)?.[1])
    }
    const before = await retries()
    emulator.fail(429, 2, 2)
    const res = await owner.request('POST', '/api/exports', { target: 'sheets', spreadsheetId: 'sheet-g', collections: ['customers'] })
    const path = `/api/exports/${res.body.id}`
    let waiting: any
    await until(async () => {
      waiting = (await owner.request('GET', path)).body
      return waiting.retry?.attempt === 2
    }, 'the job shows its first retry')
    const seenAt = Date.now()
    expect(waiting).toMatchObject({ status: 'running', retry: { attempt: 2, of: 5, reason: 'quota', nextAt: expect.any(String) } })
    // Retry-After: 2 s from the 429, which came just before.
    expect(Date.parse(waiting.retry.nextAt) - seenAt).toBeGreaterThan(1000)
    expect(Date.parse(waiting.retry.nextAt) - seenAt).toBeLessThanOrEqual(2000)
    const second = await startServer({ ...sameDatabase(t), jobs: { concurrency: 0 } })
    try {
      const there = await login(second.url, users.owner.email, users.owner.password)
      expect((await there.request('GET', path)).body.retry).toEqual(waiting.retry)
    } finally {
      await second.close()
      rmSync(second.dir, { recursive: true, force: true })
    }
    await until(async () => (await owner.request('GET', path)).body.retry?.attempt === 3, 'the second retry')
    const job = await finished(owner, path)
    expect(job.status).toBe('succeeded')
    expect(job.retry).toBeUndefined()
    expect((await t.server.jobs.queue.get(job.id))?.retry).toBeNull()
    expect((await retries()) - before).toBe(2)
  })

  it('[SH7] references are names beside their ids; line items get a tab of their own, synced like the others', async () => {
    emulator.createSpreadsheet('sheet-h')
    const customer = (await owner.request('POST', '/api/records/customers', { name: 'Items Customer' })).body
    const invoice = (
      await owner.request('POST', '/api/records/invoices', {
        customerId: customer.id,
        items: [
          { description: 'Chairs', quantity: 4, unitPrice: 25.5 },
          { description: 'Desk', quantity: 1, unitPrice: 300 },
        ],
      })
    ).body
    const first = await exportTo(owner, 'sheet-h', ['invoices'])
    expect(first).toMatchObject({ status: 'succeeded', counts: { exported: 1, added: 1 } })
    const invoices = emulator.values('sheet-h', own('invoices'))
    expect(invoices[0]).toEqual(headerOf('invoices'))
    const row = Object.fromEntries(headerOf('invoices').map((name, i) => [name, invoices[1]![i]]))
    expect(row).toMatchObject({ id: invoice.id, customer: 'Items Customer', customerId: customer.id, total: 402 })
    expect(emulator.values('sheet-h', own('invoice-items'))).toEqual([
      itemColumnsOf('invoices').map((c) => c.name),
      [invoice.id, '', 1, 'Chairs', 4, 25.5, 102],
      [invoice.id, '', 2, 'Desk', 1, 300, 300],
    ])
    expect(
      (
        await owner.request('PATCH', `/api/records/invoices/${invoice.id}`, {
          items: [{ description: 'Desk', quantity: 2, unitPrice: 300 }],
        })
      ).status,
    ).toBe(200)
    const second = await exportTo(owner, 'sheet-h', ['invoices'])
    expect(second.counts).toEqual({ exported: 1, added: 0, updated: 1, deleted: 0 })
    expect(emulator.values('sheet-h', own('invoice-items'))).toEqual([
      itemColumnsOf('invoices').map((c) => c.name),
      [invoice.id, '', 1, 'Desk', 2, 300, 600],
    ])
  })

  it('[SH3] 429s past the retry bound fail the job with a clear error', async () => {
    emulator.createSpreadsheet('sheet-c')
    emulator.fail(429, 5)
    const job = await exportTo(owner, 'sheet-c')
    expect(job.status).toBe('failed')
    expect(job.error).toMatch(/kept answering 429; gave up after 5 attempts/)
  })

  it('[SH4] a permanent 403 fails the job at once with a clear error', async () => {
    emulator.createSpreadsheet('sheet-d')
    emulator.deny('sheet-d')
    const before = emulator.requests.length
    const job = await exportTo(owner, 'sheet-d')
    expect(job.status).toBe('failed')
    expect(job.error).toMatch(/refused access to spreadsheet sheet-d \(403.*Share it with .*@example\.iam\.gserviceaccount\.com/)
    expect(emulator.requests.length - before).toBe(1)
  })

  it('[SH5] requests stay under the size limit: many rows go out in several batched writes', async () => {
    emulator.createSpreadsheet('sheet-e')
    const big = 'x'.repeat(1500)
    await Promise.all(
      Array.from({ length: 150 }, (_, i) => member.request('POST', '/api/records/leads', { name: `Lead ${i}`, source: big })),
    )
    const res = await member.request('POST', '/api/exports', { target: 'sheets', spreadsheetId: 'sheet-e', collections: ['leads'] })
    const job = await finished(member, `/api/exports/${res.body.id}`)
    expect(job).toMatchObject({ status: 'succeeded', counts: { exported: 150, added: 150 } })
    const writes = emulator.requests.filter((r) => r.path.includes('sheet-e/values:batchUpdate'))
    expect(writes.length).toBeGreaterThan(1)
    expect(Math.max(...writes.map((w) => w.bytes))).toBeLessThan(200_000 + 1000)
    expect(emulator.values('sheet-e', own('leads', 'member')).length).toBe(151)
  })

  it('[SH6] each user syncs against what their own last export wrote', async () => {
    const job = await exportTo(member, 'sheet-a')
    expect(job.status).toBe('succeeded')
    expect(job.counts.added).toBe(job.counts.exported)
  })

  it('[SH8] a pasted spreadsheet (URL or id) is opened once to show its title; one the server cannot open is a 400 that says why', async () => {
    emulator.createSpreadsheet('sheet-titled', 'Pipeline 2026')
    expect((await member.request('GET', '/api/sheets')).body).toEqual({ configured: true, serviceAccount: expect.stringContaining('@') })
    const url = 'https://docs.google.com/spreadsheets/d/sheet-titled/edit#gid=0'
    expect((await member.request('POST', '/api/sheets/check', { spreadsheet: url })).body).toEqual({
      spreadsheetId: 'sheet-titled',
      title: 'Pipeline 2026',
    })
    expect((await member.request('POST', '/api/sheets/check', { spreadsheet: ' sheet-titled ' })).body.title).toBe('Pipeline 2026')
    const missing = await member.request('POST', '/api/sheets/check', { spreadsheet: 'no-such-sheet' })
    expect(missing.status).toBe(400)
    expect(missing.body.error.message).toMatch(/no spreadsheet no-such-sheet/)
    const garbage = await member.request('POST', '/api/sheets/check', { spreadsheet: 'not a sheet at all' })
    expect(garbage.status).toBe(400)
    expect(garbage.body.error.message).toMatch(/paste the spreadsheet's address/)
  })

  it("[SH10] a saved spreadsheet is what Sync uses: a user's own gets tabs with their name, the workspace's plain tabs, so two users never overwrite each other", async () => {
    emulator.createSpreadsheet('sheet-shared', 'Shared')
    const created = await owner.request('POST', '/api/records/customers', {
      name: 'Saved Sheet Customer',
      email: 'saved.sheet@example.test',
    })
    expect(created.status).toBe(201)
    expect((await member.request('POST', '/api/exports', { target: 'sheets', collections: ['customers'] })).body.error.message).toMatch(
      /save the spreadsheet to sync to first/,
    )
    const url = 'https://docs.google.com/spreadsheets/d/sheet-shared/edit'
    expect((await member.request('PUT', '/api/sheets/workspace', { spreadsheet: url })).status).toBe(403)
    const saved = await member.request('PUT', '/api/sheets/mine', { spreadsheet: url })
    expect(saved.body).toMatchObject({ spreadsheetId: 'sheet-shared', title: 'Shared', savedBy: users.member.id })
    expect((await owner.request('PUT', '/api/sheets/mine', { spreadsheet: 'sheet-shared' })).status).toBe(200)
    expect((await owner.request('PUT', '/api/sheets/workspace', { spreadsheet: 'sheet-shared' })).body.title).toBe('Shared')
    expect((await member.request('GET', '/api/sheets')).body).toMatchObject({
      configured: true,
      mine: { spreadsheetId: 'sheet-shared', title: 'Shared' },
      workspace: { spreadsheetId: 'sheet-shared', savedBy: users.owner.id },
    })

    const sync = async (api: Api, body: Record<string, unknown> = {}) => {
      const res = await api.request('POST', '/api/exports', { target: 'sheets', collections: ['customers'], ...body })
      expect(res.status).toBe(202)
      return finished(api, `/api/exports/${res.body.id}`)
    }
    const first = await sync(member)
    expect(first.status).toBe('succeeded')
    expect(first.counts.added).toBe(first.counts.exported)
    await sync(owner)
    await sync(member, { sheet: 'workspace' })
    const tabs = emulator.tabTitles('sheet-shared')
    expect(tabs).toEqual(expect.arrayContaining(['customers', 'customers (member of acme)', 'customers (owner of acme)']))
    expect(emulator.values('sheet-shared', 'customers (member of acme)')).toEqual(emulator.values('sheet-shared', 'customers'))

    // The workspace's spreadsheet is synced against one state for everyone: the owner's sync after the member's finds nothing new.
    const again = await sync(owner, { sheet: 'workspace' })
    expect(again.counts).toMatchObject({ added: 0, updated: 0, deleted: 0 })
    const id = created.body.id
    expect((await owner.request('PATCH', `/api/records/customers/${id}`, { phone: '+1 555 0100' })).status).toBe(200)
    expect((await sync(member)).counts).toMatchObject({ added: 0, updated: 1, deleted: 0 })

    expect((await member.request('DELETE', '/api/sheets/mine')).status).toBe(204)
    expect((await member.request('GET', '/api/sheets')).body.mine).toBeUndefined()
    // With no spreadsheet of their own, Sync goes to the workspace's.
    expect((await sync(member)).counts).toMatchObject({ updated: 1 })
  })

  it("[SH11] two users' syncs of the workspace's spreadsheet at once run one after the other: the second finds nothing new", async () => {
    emulator.createSpreadsheet('sheet-team', 'Team')
    expect((await owner.request('PUT', '/api/sheets/workspace', { spreadsheet: 'sheet-team' })).status).toBe(200)
    emulator.pause()
    const start = async (api: Api) => {
      const res = await api.request('POST', '/api/exports', { target: 'sheets', sheet: 'workspace', collections: ['customers'] })
      expect(res.status).toBe(202)
      return res.body.id as string
    }
    const ids = [await start(member), await start(owner)]
    const apis = [member, owner]
    // Both claimed by the runner: one at Google (held), the other waiting for it.
    await until(async () => {
      const jobs = await Promise.all(ids.map((id, i) => apis[i]!.request('GET', `/api/exports/${id}`)))
      return jobs.every((job) => job.body.status === 'running')
    }, 'both syncs running')
    emulator.resume()
    const done = await Promise.all(ids.map((id, i) => finished(apis[i]!, `/api/exports/${id}`)))
    expect(done.map((job) => job.status)).toEqual(['succeeded', 'succeeded'])
    const added = done.map((job) => job.counts.added).sort((a, b) => a - b)
    expect(added).toEqual([0, done[0].counts.exported])
  })

  it("[SH12] two users exporting into one spreadsheet named by id get tabs of their own: each keeps that user's rows after both synced", async () => {
    emulator.createSpreadsheet('sheet-two')
    const header = [headerOf('customers')]
    const made = async (name: string) => (await owner.request('POST', '/api/records/customers', { name })).body.id as string
    const gone = await made('Two Users Gone')
    expect((await exportTo(owner, 'sheet-two')).status).toBe('succeeded')
    await made('Two Users Added')
    expect((await exportTo(member, 'sheet-two')).status).toBe('succeeded')
    const memberRows = await expectedRows(member)
    expect((await owner.request('DELETE', `/api/records/customers/${gone}`)).status).toBe(204)
    expect((await exportTo(owner, 'sheet-two')).counts).toMatchObject({ added: 1, deleted: 1 })

    expect(emulator.tabTitles('sheet-two')).not.toContain('customers')
    expect(emulator.values('sheet-two', own('customers'))).toEqual([...header, ...(await expectedRows(owner))])
    expect(emulator.values('sheet-two', own('customers', 'member'))).toEqual([...header, ...memberRows])
    expect((await exportTo(member, 'sheet-two')).counts).toMatchObject({ added: 0, deleted: 1 })
    expect(emulator.values('sheet-two', own('customers', 'member'))).toEqual([...header, ...(await expectedRows(member))])
  })

  it("[SH13] a spreadsheet named by id that is the workspace's saved one is synced as the workspace's: plain tabs, one state", async () => {
    emulator.createSpreadsheet('sheet-named-team', 'Named Team')
    expect((await owner.request('PUT', '/api/sheets/workspace', { spreadsheet: 'sheet-named-team' })).status).toBe(200)
    const first = await exportTo(member, 'sheet-named-team')
    expect(first.counts.added).toBe(first.counts.exported)
    expect((await exportTo(owner, 'sheet-named-team')).counts).toMatchObject({ added: 0, updated: 0, deleted: 0 })
    expect(emulator.tabTitles('sheet-named-team')).toEqual(expect.arrayContaining(['customers']))
    expect(emulator.tabTitles('sheet-named-team')).not.toContain(own('customers'))
    expect(emulator.values('sheet-named-team', 'customers')).toEqual([headerOf('customers'), ...(await expectedRows(owner))])
  })
})

describeBackends('Google Sheets not configured', (backend) => {
  it('[SH9] the server says so, and checking a spreadsheet is a 400 naming the missing setting', async () => {
    const t = await startServer({ backend: backend.kind })
    try {
      const users = await seedWorkspace(t.server)
      const member = await login(t.url, users.member.email, users.member.password)
      expect((await member.request('GET', '/api/sheets')).body).toEqual({ configured: false })
      const check = await member.request('POST', '/api/sheets/check', { spreadsheet: 'sheet-a' })
      expect(check.status).toBe(400)
      expect(check.body.error.message).toBe('Google Sheets is not configured on this server')
    } finally {
      await t.close()
    }
  })
})
