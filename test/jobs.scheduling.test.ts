/**
 * Scheduling: different users' jobs run at the same time, each user's jobs of one target
 * run strictly one after another, and an identical export still queued is coalesced.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { INBOX_JOBS } from '../shared/docLayout.js'
import { type Api, type TestServer, login, provider, seedWorkspace, synced } from './helpers/server.js'
import { describeBackends } from './helpers/backends.js'
import { finished, seedRecords, startServerWithSheets, until } from './helpers/jobs.js'
import { SheetsEmulator } from './sheets-emulator/SheetsEmulator.js'

const USERS = 10
const CUSTOMERS = 30
const DEALS = 20

describeBackends('job scheduling', (backend) => {
  let t: TestServer
  let emulator: SheetsEmulator
  let users: Api[]

  beforeAll(async () => {
    emulator = new SheetsEmulator()
    emulator.latencyMs = 25
    t = await startServerWithSheets(emulator, {}, { backend: backend.kind, jobs: { concurrency: USERS } })
    await seedWorkspace(t.server)
    await seedRecords(t.server, 'acme', 'customers', CUSTOMERS, (i) => ({ name: `Customer ${i}`, email: `c${i}@example.test` }))
    await seedRecords(t.server, 'acme', 'deals', DEALS, (i) => ({ title: `Deal ${i}`, amount: i, stage: 'lead', currency: 'EUR' }))
    users = []
    for (let i = 0; i < USERS; i++) {
      await t.server.auth.addUser({
        workspace: 'acme',
        email: `seller${i}@acme.test`,
        password: 'correct horse',
        role: 'member',
        name: `Seller ${i}`,
      })
      users.push(await login(t.url, `seller${i}@acme.test`, 'correct horse'))
    }
  })
  afterAll(async () => {
    await t.close()
    await emulator.close()
  })

  const ms = (iso: string) => Date.parse(iso)

  it('[JS1] 10 users each enqueue 3 exports at once: users run concurrently, each user one job after another', async () => {
    const plans = [['customers'], ['deals'], ['customers', 'deals']]
    // The emulator answers nothing until all 10 users' exports are talking to it at once.
    emulator.holdUntilConcurrent(USERS)
    // All users at once; each user's three one after another, so that they are queued in this order
    // (concurrent requests of one user may be queued in any order, and the counts depend on it).
    const queued = await Promise.all(
      users.map(async (api, u) => {
        emulator.createSpreadsheet(`user-${u}`)
        const replies = []
        for (const collections of plans)
          replies.push(await api.request('POST', '/api/exports', { target: 'sheets', spreadsheetId: `user-${u}`, collections }))
        return replies
      }),
    )
    for (const replies of queued) for (const reply of replies) expect(reply.status).toBe(202)
    const jobs = await Promise.all(users.map((api, u) => Promise.all(queued[u]!.map((r) => finished(api, `/api/exports/${r.body.id}`)))))

    for (const own of jobs) {
      expect(own.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded'])
      expect(own.map((j) => j.counts)).toEqual([
        { exported: CUSTOMERS, added: CUSTOMERS, updated: 0, deleted: 0 },
        { exported: DEALS, added: DEALS, updated: 0, deleted: 0 },
        { exported: CUSTOMERS + DEALS, added: 0, updated: 0, deleted: 0 },
      ])
      // Strictly one after another, in the order they were queued.
      expect(ms(own[1].startedAt)).toBeGreaterThanOrEqual(ms(own[0].finishedAt))
      expect(ms(own[2].startedAt)).toBeGreaterThanOrEqual(ms(own[1].finishedAt))
    }
    // Every user's first job was running at the same moment as every other user's.
    const firsts = jobs.map((own) => own[0])
    expect(Math.max(...firsts.map((j) => ms(j.startedAt)))).toBeLessThan(Math.min(...firsts.map((j) => ms(j.finishedAt))))
    expect(t.server.jobs.runner.stats().peak).toBe(USERS)
    for (let u = 0; u < USERS; u++) expect(emulator.values(`user-${u}`, `customers (Seller ${u})`).length).toBe(CUSTOMERS + 1)
  })

  it('[JS2] an export identical to one still queued is coalesced into it; once it runs, a new one is queued', async () => {
    const [api] = users as [Api]
    emulator.createSpreadsheet('coalesce')
    const body = (collections: string[]) => ({ target: 'sheets', spreadsheetId: 'coalesce', collections })
    emulator.pause()
    const running = await api.request('POST', '/api/exports', body(['customers']))
    await until(
      async () => (await api.request('GET', `/api/exports/${running.body.id}`)).body.status === 'running',
      'the first export runs',
    )
    const queued = await api.request('POST', '/api/exports', body(['deals']))
    const same = await api.request('POST', '/api/exports', body(['deals']))
    expect(same.status).toBe(202)
    expect(same.body.id).toBe(queued.body.id)
    expect(same.body.status).toBe('queued')
    expect(same.body.position).toBeGreaterThanOrEqual(1)
    emulator.resume()
    const done = await finished(api, `/api/exports/${queued.body.id}`)
    expect(done.status).toBe('succeeded')
    expect((await finished(api, `/api/exports/${running.body.id}`)).status).toBe('succeeded')
    const fresh = await api.request('POST', '/api/exports', body(['deals']))
    expect(fresh.body.id).not.toBe(queued.body.id)
    expect((await finished(api, `/api/exports/${fresh.body.id}`)).counts).toEqual({ exported: DEALS, added: 0, updated: 0, deleted: 0 })
  })

  it("[JS3] a queued job's position in the inbox moves up as the jobs ahead of it start", async () => {
    const api = users[1]!
    emulator.createSpreadsheet('positions')
    const inbox = provider(t.wsUrl, `acme/inbox/${api.userId}`, api.token)
    await synced(inbox)
    const body = (collections: string[]) => ({ target: 'sheets', spreadsheetId: 'positions', collections })
    emulator.pause()
    const first = await api.request('POST', '/api/exports', body(['customers']))
    await until(async () => (await api.request('GET', `/api/exports/${first.body.id}`)).body.status === 'running', 'the first export runs')
    const second = await api.request('POST', '/api/exports', body(['deals']))
    const third = await api.request('POST', '/api/exports', body(['customers', 'deals']))
    expect([second.body.position, third.body.position]).toEqual([1, 2])
    const positions: number[] = []
    inbox.doc.getMap<any>(INBOX_JOBS).observe(() => {
      const position = inbox.doc.getMap<any>(INBOX_JOBS).get(third.body.id)?.position
      if (position !== undefined && position !== positions.at(-1)) positions.push(position)
    })
    emulator.resume()
    expect((await finished(api, `/api/exports/${third.body.id}`)).status).toBe('succeeded')
    expect(positions.at(-1)).toBe(1)
    inbox.destroy()
  })

  it("[JS4] GET /api/jobs/status: the caller's running and queued jobs with positions that count only what delays them, then idle; never another user's", async () => {
    const [caller, other] = [users[2]!, users[3]!]
    const status = async (api: Api) => {
      const res = await api.request('GET', '/api/jobs/status')
      expect(res.status).toBe(200)
      return res.body
    }
    emulator.createSpreadsheet('status')
    const sheets = (collections: string[]) => ({ target: 'sheets', spreadsheetId: 'status', collections })
    const runs = async (api: Api, id: string) =>
      until(async () => (await api.request('GET', `/api/exports/${id}`)).body.status === 'running', 'the export runs')
    emulator.pause()
    // The other user first: one export running, two queued ahead of the caller's in the queue.
    const theirs = [await other.request('POST', '/api/exports', sheets(['customers']))]
    await runs(other, theirs[0]!.body.id)
    for (const collections of [['deals'], ['customers', 'deals']])
      theirs.push(await other.request('POST', '/api/exports', sheets(collections)))
    const mine = [await caller.request('POST', '/api/exports', sheets(['customers']))]
    await runs(caller, mine[0]!.body.id)
    for (const target of ['deals', 'leads', 'events']) mine.push(await caller.request('POST', '/api/exports', sheets([target])))

    const busy = await status(caller)
    // Its last finished job is from [JS1].
    expect(busy).toMatchObject({ isProcessing: true, queueLength: 3, lastFinished: { status: 'succeeded', spreadsheetId: 'user-2' } })
    expect(busy.running.map((j: any) => [j.id, j.status])).toEqual([[mine[0]!.body.id, 'running']])
    // The other user's queued jobs wait for their own running one, not for a runner: they do not count.
    expect(busy.queued.map((j: any) => [j.id, j.status, j.position])).toEqual(mine.slice(1).map((r, i) => [r.body.id, 'queued', i + 1]))
    expect(mine.slice(1).map((r) => r.body.position)).toEqual([1, 2, 3])
    const theirIds = theirs.map((r) => r.body.id)
    for (const job of [...busy.running, ...busy.queued]) expect(theirIds).not.toContain(job.id)
    const theirStatus = await status(other)
    expect(theirStatus).toMatchObject({ isProcessing: true, queueLength: 2 })
    expect([...theirStatus.running, ...theirStatus.queued].map((j: any) => j.id)).toEqual(theirIds)

    emulator.resume()
    const done = await Promise.all(mine.map((r) => finished(caller, `/api/exports/${r.body.id}`)))
    await Promise.all(theirs.map((r) => finished(other, `/api/exports/${r.body.id}`)))
    const idle = await status(caller)
    expect(idle).toMatchObject({ isProcessing: false, queueLength: 0, running: [], queued: [] })
    expect(idle.lastFinished).toMatchObject({ id: done.at(-1).id, status: 'succeeded', kind: 'export', target: 'sheets' })
    expect((await status(other)).lastFinished.id).toBe(theirIds.at(-1))
  })
})
