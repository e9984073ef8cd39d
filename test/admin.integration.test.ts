/**
 * The admin console's API against the real server, on both backends: `/api/admin/overview`
 * is for owners and admins only, and its figures (read from the /metrics registry) move when
 * people connect, edit, are reverted, book a conflicting slot and export.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { fieldsOf, notesOf } from '../shared/docLayout.js'
import { describeBackends } from './helpers/backends.js'
import { type Api, type SeededUsers, type TestServer, provider, startSeeded, synced, until } from './helpers/server.js'

describeBackends('admin console API', (backend) => {
  let t: TestServer
  let users: SeededUsers
  let owner: Api
  let member: Api
  let viewer: Api

  beforeAll(async () => {
    ;({
      t,
      users,
      api: { owner, member, viewer },
    } = await startSeeded(['owner', 'member', 'viewer'], { ...backend.options(), overviewSampleMs: 100 }, 'adm'))
  })
  afterAll(() => t.close())

  const overview = async () => {
    const res = await owner.request('GET', '/api/admin/overview')
    expect(res.status).toBe(200)
    return res.body
  }

  it('[ADM1] a member or a viewer is refused with 403 in the contract format; signed out is 401', async () => {
    for (const api of [member, viewer]) {
      const res = await api.request('GET', '/api/admin/overview')
      expect(res.status).toBe(403)
      expect(res.body.error.code).toBe('forbidden')
      expect(typeof res.body.error.message).toBe('string')
    }
    expect((await fetch(`${t.url}/api/admin/overview`)).status).toBe(401)
  })

  it('[ADM2] the figures move with sockets, edits, a revert, a booking conflict, a refused sign-in and an export', async () => {
    const before = await overview()
    expect(before.connections).toBe(0)
    expect(before.reverts.invalid).toBe(0)

    const deal = await member.request('POST', '/api/records/deals', { title: 'Watched', amount: 10, currency: 'EUR' })
    expect(deal.status).toBe(201)
    const docName = `adm/deals/${deal.body.id}`
    const writer = provider(t.wsUrl, docName, member.token)
    const reader = provider(t.wsUrl, docName, owner.token)
    await Promise.all([synced(writer), synced(reader)])
    const connected = await overview()
    expect(connected.connections).toBe(2)
    expect(connected.usersOnline).toBe(2)
    expect(connected.busiestDocuments[0]).toMatchObject({ doc: docName, sockets: 2 })
    expect(connected.busiestDocuments[0].users.map((u: { name: string }) => u.name).sort()).toEqual(['member of adm', 'owner of adm'])

    notesOf(writer.doc).insert(0, 'watched closely')
    await until(() => notesOf(reader.doc).toString() === 'watched closely', 'the reader sees the note')
    fieldsOf(writer.doc).set('amount', -5)
    await until(() => fieldsOf(writer.doc).get('amount') === 10, 'the invalid amount is reverted')

    const start = Date.parse('2031-04-04T09:00:00Z')
    const slot = { start: new Date(start).toISOString(), end: new Date(start + 3_600_000).toISOString(), room: 'Atlas', attendees: [] }
    expect((await member.request('POST', '/api/records/events', { title: 'A', ...slot })).status).toBe(201)
    expect((await member.request('POST', '/api/records/events', { title: 'B', ...slot })).status).toBe(201)

    const refused = await fetch(`${t.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: users.member.email, password: 'not the password' }),
    })
    expect(refused.status).toBe(401)

    const job = await member.request('POST', '/api/exports', { target: 'csv', collections: ['deals'] })
    expect(job.status).toBe(202)
    await until(async () => (await member.request('GET', `/api/exports/${job.body.id}`)).body.status === 'succeeded', 'the export finishes')

    await until(async () => {
      const now = await overview()
      return now.bookings.conflict >= 1 && now.jobs.entered.succeeded >= 1
    }, 'the conflict and the finished export are counted')
    const after = await overview()
    expect(after.updatesIn).toBeGreaterThan(before.updatesIn)
    expect(after.reverts.invalid).toBe(1)
    expect(after.bookings.confirmed).toBeGreaterThanOrEqual(1)
    expect(after.bookings.conflict).toBeGreaterThanOrEqual(1)
    expect(after.signIns.credentials).toBe(1)
    expect(after.jobs.entered.queued).toBeGreaterThanOrEqual(1)
    expect(after.commitSeconds.count).toBeGreaterThan(before.commitSeconds.count)
    expect(after.commitSeconds.p99).toBeGreaterThan(0)
    expect(after.memory.residentBytes).toBeGreaterThan(0)
    expect(after.eventLoopDelayP99Seconds).toBeGreaterThanOrEqual(0)
    const route = after.http.find((r: { method: string; route: string }) => r.method === 'POST' && r.route === '/api/records/:collection')
    expect(route.count).toBeGreaterThanOrEqual(3)
    expect(route.p50Seconds).toBeGreaterThan(0)

    // The series: points every 100 ms here, with the edits' rate and the revert in one of them.
    await until(async () => {
      const { series } = await overview()
      return (
        series.some((p: { reverts: number }) => p.reverts > 0) && series.some((p: { updatesPerSecond: number }) => p.updatesPerSecond > 0)
      )
    }, 'the series shows the revert and the updates')

    writer.destroy()
    reader.destroy()
    await until(async () => (await overview()).connections === 0, 'the connections drop')
    expect((await overview()).usersOnline).toBe(0)
  })

  it('[ADM3] the overview reads the /metrics registry: the same counts, and reading it changes none', async () => {
    const scrape = async () => (await fetch(`${t.url}/metrics`)).text()
    const first = await overview()
    const text = await scrape()
    const line = text.split('\n').find((l) => l.startsWith('accord_validation_reverts_total{reason="invalid"'))
    expect(Number(line?.split(' ').at(-1))).toBe(first.reverts.invalid)
    await overview()
    expect((await overview()).reverts.invalid).toBe(first.reverts.invalid)
  })
})
