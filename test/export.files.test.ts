/**
 * CSV and XLSX exports: the files hold the live records, only the owner can read or
 * download a job, and the job's status reaches every open tab of its user through the
 * inbox document.
 */
import { parse } from 'csv-parse/sync'
import ExcelJS from 'exceljs'
import JSZip from 'jszip'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { INBOX_JOBS, INBOX_NOTIFICATIONS } from '../shared/docLayout.js'
import { headerOf } from '../server/jobs/connectors/table.js'
import { type Api, type TestServer, closeCodeOf, login, provider, seedWorkspace, startServer, synced, until } from './helpers/server.js'
import { describeBackends, query, sameDatabase } from './helpers/backends.js'
import { finished } from './helpers/jobs.js'

describeBackends('file exports', (backend) => {
  let t: TestServer
  let member: Api
  let other: Api
  let viewer: Api

  beforeAll(async () => {
    t = await startServer({ backend: backend.kind, jobs: { pollMs: 100 } })
    const users = await seedWorkspace(t.server)
    member = await login(t.url, users.member.email, users.member.password)
    other = await login(t.url, users.member2.email, users.member2.password)
    viewer = await login(t.url, users.viewer.email, users.viewer.password)
    const notes = 'line one, with "quotes"\nline two'
    for (let i = 0; i < 5; i++) {
      expect(
        (
          await member.request('POST', '/api/records/customers', {
            name: `Customer ${i}`,
            email: `c${i}@example.test`,
            tags: ['x', 'y'],
            notes,
          })
        ).status,
      ).toBe(201)
    }
    for (let i = 0; i < 3; i++)
      expect((await member.request('POST', '/api/records/deals', { title: `Deal ${i}`, amount: 100 * i, stage: 'won' })).status).toBe(201)
  })
  afterAll(() => t.close())

  async function download(api: Api, id: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
    const res = await fetch(`${t.url}/api/exports/${id}/file`, { headers: { authorization: `Bearer ${api.token}` } })
    return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) }
  }

  it('[EX1] POST /api/exports answers 202 at once; status reaches two providers of the same user live', async () => {
    const inbox = `acme/inbox/${member.userId}`
    const tabs = [provider(t.wsUrl, inbox, member.token), provider(t.wsUrl, inbox, member.token)]
    await Promise.all(tabs.map(synced))
    const seen = tabs.map(() => new Set<string>())
    tabs.forEach((tab, i) =>
      tab.doc.getMap<any>(INBOX_JOBS).observe((event) => {
        for (const key of event.keysChanged) seen[i]!.add(tab.doc.getMap<any>(INBOX_JOBS).get(key)?.status)
      }),
    )
    const res = await member.request('POST', '/api/exports', { target: 'csv', collections: ['customers'] })
    expect(res.status).toBe(202)
    // Queued with its place in line, unless a runner's poll claimed it in the meantime.
    if (res.body.status === 'queued') expect(res.body).toMatchObject({ target: 'csv', attempts: 0, position: expect.any(Number) })
    else expect(res.body).toMatchObject({ target: 'csv', status: 'running' })
    const id = res.body.id as string
    for (const tab of tabs) {
      await until(() => tab.doc.getMap<any>(INBOX_JOBS).get(id)?.status === 'succeeded', 'the job succeeds in every tab')
      expect(tab.doc.getMap<any>(INBOX_JOBS).get(id)).toMatchObject({
        id,
        counts: { exported: 5 },
        attempts: 1,
        file: `/api/exports/${id}/file`,
      })
      await until(
        () =>
          tab.doc
            .getArray<any>(INBOX_NOTIFICATIONS)
            .toArray()
            .some((n) => n.jobId === id),
        'a notification',
      )
    }
    expect([...seen[0]!]).toContain('queued')
    expect([...seen[0]!]).toContain('succeeded')
    tabs.forEach((tab) => tab.destroy())
  })

  it('[EX2] the CSV holds every live record; only its owner can read or download the job (others get 404)', async () => {
    const res = await member.request('POST', '/api/exports', { target: 'csv', collections: ['customers'] })
    const job = await finished(member, `/api/exports/${res.body.id}`)
    expect(job.status).toBe('succeeded')
    const file = await download(member, job.id)
    expect(file.status).toBe(200)
    expect(file.type).toMatch(/text\/csv/)
    const rows = parse(file.bytes, { bom: true }) as string[][]
    expect(rows[0]).toEqual(headerOf('customers'))
    expect(rows.length).toBe(6)
    const live = (await member.request('GET', '/api/records/customers')).body.items as any[]
    expect(rows.slice(1).map((r) => r[0])).toEqual(live.map((r) => r.id))
    expect(rows[1]![headerOf('customers').indexOf('notes')]).toBe('line one, with "quotes"\nline two')

    expect((await other.request('GET', `/api/exports/${job.id}`)).status).toBe(404)
    expect((await download(other, job.id)).status).toBe(404)
    expect((await other.request('GET', '/api/exports')).body.items.map((j: any) => j.id)).not.toContain(job.id)
    expect((await member.request('GET', '/api/exports')).body.items.map((j: any) => j.id)).toContain(job.id)
    expect(await closeCodeOf(`${t.wsUrl}/sync/acme/inbox/${member.userId}?token=${other.token}`)).toBe(4403)
  })

  it('[EX3] an XLSX export has one worksheet per collection', async () => {
    const res = await member.request('POST', '/api/exports', { target: 'xlsx', collections: ['customers', 'deals'] })
    const job = await finished(member, `/api/exports/${res.body.id}`)
    expect(job).toMatchObject({ status: 'succeeded', counts: { exported: 8 } })
    const file = await download(member, job.id)
    expect(file.status).toBe(200)
    const workbook = new ExcelJS.Workbook()
    await workbook.xlsx.load(file.bytes as unknown as ArrayBuffer)
    expect(workbook.worksheets.map((w) => w.name)).toEqual(['customers', 'deals'])
    const deals = workbook.getWorksheet('deals')!
    expect(deals.rowCount).toBe(4)
    expect(deals.getRow(1).values).toEqual([undefined, ...headerOf('deals')])
    expect(typeof deals.getRow(2).getCell(headerOf('deals').indexOf('amount') + 1).value).toBe('number')
  })

  it('[EX4] a CSV export of several collections is one ZIP of one CSV per collection', async () => {
    const res = await member.request('POST', '/api/exports', { target: 'csv', collections: ['deals', 'customers'] })
    const job = await finished(member, `/api/exports/${res.body.id}`)
    const file = await download(member, job.id)
    expect(file.type).toBe('application/zip')
    const zip = await JSZip.loadAsync(file.bytes)
    expect(Object.keys(zip.files).sort()).toEqual(['customers.csv', 'deals.csv'])
    expect((parse(await zip.file('deals.csv')!.async('string'), { bom: true }) as string[][]).length).toBe(4)
  })

  it('[EX5] invalid export requests are refused in the contract format', async () => {
    const bad = await member.request('POST', '/api/exports', { target: 'pdf' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('invalid')
    const sheets = await member.request('POST', '/api/exports', { target: 'sheets', spreadsheetId: 'abc' })
    expect(sheets.status).toBe(400)
    expect(sheets.body.error.message).toMatch(/not configured/)
    expect((await member.request('GET', '/api/exports/nope')).status).toBe(404)
  })

  it('[EX8] a viewer exports files of what it can read, but may not sync to Google Sheets nor import', async () => {
    const started = await viewer.request('POST', '/api/exports', { target: 'csv', collections: ['customers'] })
    expect(started.status).toBe(202)
    expect((await finished(viewer, `/api/exports/${started.body.id}`)).status).toBe('succeeded')
    const sheets = await viewer.request('POST', '/api/exports', { target: 'sheets', spreadsheetId: 'abc' })
    expect(sheets.status).toBe(403)
    expect(sheets.body.error.message).toBe('viewers can export files, not sync to Google Sheets')
    expect((await viewer.request('POST', '/api/imports', {})).status).toBe(403)
  })

  it('[EX7] a user keeps the newest 10 export files; older downloads answer 404', async () => {
    const ids: string[] = []
    for (let i = 0; i < 11; i++) {
      const res = await other.request('POST', '/api/exports', { target: 'csv', collections: ['deals'] })
      ids.push((await finished(other, `/api/exports/${res.body.id}`)).id)
    }
    expect((await download(other, ids[0]!)).status).toBe(404)
    expect((await download(other, ids[1]!)).status).toBe(200)
    expect((await download(other, ids[10]!)).status).toBe(200)
  })

  it('[EX9] a file exported by one server is downloaded from another on the same database (a cluster member)', async () => {
    const res = await member.request('POST', '/api/exports', { target: 'csv', collections: ['deals'] })
    const job = await finished(member, `/api/exports/${res.body.id}`)
    expect(job.status).toBe('succeeded')
    const here = await download(member, job.id)
    const second = await startServer({ ...sameDatabase(t), jobs: { pollMs: 100 } })
    try {
      const there = await fetch(`${second.url}/api/exports/${job.id}/file`, { headers: { authorization: `Bearer ${member.token}` } })
      expect(there.status).toBe(200)
      expect(Buffer.from(await there.arrayBuffer()).equals(here.bytes)).toBe(true)
      if (backend.kind === 'postgres') {
        // Kept in the database, not on the disk of the server that wrote it.
        const rows = await query<{ n: number }>(t.server, 'SELECT octet_length(bytes) AS n FROM export_files WHERE job_id = ?', [job.id])
        expect(Number(rows[0]?.n)).toBe(here.bytes.length)
      }
    } finally {
      await second.close()
    }
  })

  it('[EX6] job status changes are counted in /metrics', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text()
    const succeeded = /accord_export_jobs_total\{status="succeeded",kind="export"\} (\d+)/.exec(text)
    expect(Number(succeeded?.[1])).toBeGreaterThanOrEqual(4)
  })
})
