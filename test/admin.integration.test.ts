/**
 * The admin console's API against the real server, on both backends: `/api/admin/overview`
 * is for owners and admins only, and its figures (read from the /metrics registry) move when
 * people connect, edit, are reverted, book a conflicting slot and export. `/api/admin/users`
 * adds people, changes roles (live: the user's sockets close and reopen with the new role),
 * deactivates (sockets close with 4401, sign-in refused) and lists and revokes sessions.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { fieldsOf, notesOf } from '../shared/docLayout.js'
import { describeBackends } from './helpers/backends.js'
import type { WebsocketProvider } from 'y-websocket'
import { type Api, type SeededUsers, type TestServer, login, provider, signInStatus, startSeeded, synced, until } from './helpers/server.js'

/** The code of the next close of a provider's socket. */
function nextClose(p: WebsocketProvider): Promise<number> {
  return new Promise((resolve) => p.once('connection-close', (event: CloseEvent | null) => resolve(event?.code ?? 0)))
}

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
    expect(after.memory.heapUsedBytes).toBeGreaterThan(0)
    expect(after.eventLoopDelayP99Seconds).toBeGreaterThanOrEqual(0)
    const route = after.http.find((r: { method: string; route: string }) => r.method === 'POST' && r.route === '/api/records/:collection')
    expect(route.count).toBeGreaterThanOrEqual(3)
    expect(route.p50Seconds).toBeGreaterThan(0)

    // The series: points every 100 ms here, with the edits' rate and the revert in one of them.
    await until(async () => {
      const { series } = await overview()
      return (
        series.some((p: { reverts: number }) => p.reverts > 0) &&
        series.some((p: { updatesPerSecond: number }) => p.updatesPerSecond > 0) &&
        series.some((p: { jobsSucceeded: number }) => p.jobsSucceeded > 0)
      )
    }, 'the series shows the revert, the updates and the export that ended')

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

  const PASSWORD = 'initial password'
  let added = 0
  /** A new user added through the API, signed in. */
  async function addPerson(role: string): Promise<{ id: string; email: string; api: Api }> {
    const email = `person${++added}@adm.test`
    const res = await owner.request('POST', '/api/admin/users', { email, name: `Person ${added}`, role, password: PASSWORD })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ email, role, workspace: 'adm', deactivatedAt: null })
    return { id: res.body.id, email, api: await login(t.url, email, PASSWORD) }
  }

  it('[ADM4] an owner adds a user with an initial password; members may not; bad input is 400, a taken e-mail 409', async () => {
    const person = await addPerson('member')
    expect((await person.api.request('GET', '/api/me')).body.role).toBe('member')
    const list = await owner.request('GET', '/api/admin/users')
    expect(list.body.items.map((u: { email: string }) => u.email)).toContain(person.email)
    expect((await member.request('POST', '/api/admin/users', { email: 'x@adm.test', role: 'member', password: PASSWORD })).status).toBe(403)
    expect((await member.request('GET', '/api/admin/users')).status).toBe(403)
    const badRole = await owner.request('POST', '/api/admin/users', { email: 'y@adm.test', role: 'boss', password: PASSWORD })
    expect(badRole.status).toBe(400)
    expect(badRole.body.error.code).toBe('invalid')
    expect((await owner.request('POST', '/api/admin/users', { email: 'z@adm.test', role: 'member', password: 'short' })).status).toBe(400)
    expect((await owner.request('POST', '/api/admin/users', { email: person.email, role: 'member', password: PASSWORD })).status).toBe(409)
    const admin = await addPerson('admin')
    const ownerByAdmin = await admin.api.request('POST', '/api/admin/users', { email: 'o@adm.test', role: 'owner', password: PASSWORD })
    expect(ownerByAdmin.status).toBe(403)
    expect((await admin.api.request('PATCH', `/api/admin/users/${users.owner.id}`, { role: 'member' })).status).toBe(403)
  })

  it('[ADM5] a member made viewer can no longer write, live: their socket closes with 4401, and back in they are read-only', async () => {
    const person = await addPerson('member')
    const deal = await person.api.request('POST', '/api/records/deals', { title: 'Demoted', amount: 10, currency: 'EUR' })
    expect(deal.status).toBe(201)
    const docName = `adm/deals/${deal.body.id}`
    const before = provider(t.wsUrl, docName, person.api.token)
    const watcher = provider(t.wsUrl, docName, owner.token)
    await Promise.all([synced(before), synced(watcher)])
    fieldsOf(before.doc).set('amount', 20)
    await until(() => fieldsOf(watcher.doc).get('amount') === 20, 'the member writes')

    const closed = nextClose(before)
    const changed = await owner.request('PATCH', `/api/admin/users/${person.id}`, { role: 'viewer' })
    expect(changed.status).toBe(200)
    expect(changed.body.role).toBe('viewer')
    expect(await closed).toBe(4401)
    before.destroy()
    expect((await person.api.request('GET', '/api/me')).status).toBe(401)

    const viewerApi = await login(t.url, person.email, PASSWORD)
    expect((await viewerApi.request('GET', '/api/me')).body.role).toBe('viewer')
    expect((await viewerApi.request('PATCH', `/api/records/deals/${deal.body.id}`, { amount: 30 })).status).toBe(403)
    const after = provider(t.wsUrl, docName, viewerApi.token)
    await synced(after)
    fieldsOf(after.doc).set('amount', 40)
    await until(() => fieldsOf(after.doc).get('amount') === 20, 'the viewer’s edit is reverted')
    expect(fieldsOf(watcher.doc).get('amount')).toBe(20)
    after.destroy()
    watcher.destroy()
  })

  it('[ADM6] a deactivated user: open socket closes with 4401, session ends, sign-in refused, still listed', async () => {
    const person = await addPerson('member')
    const deal = await person.api.request('POST', '/api/records/deals', { title: 'Leaving', amount: 1, currency: 'EUR' })
    const socket = provider(t.wsUrl, `adm/deals/${deal.body.id}`, person.api.token)
    await synced(socket)
    const closed = nextClose(socket)
    const res = await owner.request('POST', `/api/admin/users/${person.id}/deactivate`)
    expect(res.status).toBe(200)
    expect(res.body.deactivatedAt).toBeGreaterThan(0)
    expect(await closed).toBe(4401)
    socket.destroy()
    expect((await person.api.request('GET', '/api/me')).status).toBe(401)
    expect(await signInStatus(t.url, person.email, PASSWORD)).toBe(401)
    const listed = (await owner.request('GET', '/api/admin/users')).body.items.find((u: { id: string }) => u.id === person.id)
    expect(listed.deactivatedAt).toBe(res.body.deactivatedAt)
    expect((await owner.request('GET', `/api/admin/users/${person.id}/sessions`)).body.items).toEqual([])
    expect((await owner.request('POST', `/api/admin/users/${users.owner.id}/deactivate`)).status).toBe(400)
  })

  it('[ADM7] sessions are listed and one is revoked; another workspace’s are not found; the last owner stays', async () => {
    const person = await addPerson('member')
    const second = await login(t.url, person.email, PASSWORD)
    const listed = await owner.request('GET', `/api/admin/users/${person.id}/sessions`)
    expect(listed.status).toBe(200)
    expect(listed.body.items).toHaveLength(2)
    const mine = (await person.api.request('GET', '/api/me')).status
    expect(mine).toBe(200)
    // Which listed session is `second`'s: the newer one.
    const [, newer] = listed.body.items as { id: string; createdAt: number }[]
    expect((await owner.request('DELETE', `/api/admin/sessions/${newer!.id}`)).status).toBe(204)
    expect((await second.request('GET', '/api/me')).status).toBe(401)
    expect((await person.api.request('GET', '/api/me')).status).toBe(200)
    expect((await owner.request('GET', `/api/admin/users/${person.id}/sessions`)).body.items).toHaveLength(1)

    await t.server.auth.addWorkspace('elsewhere')
    const stranger = await t.server.auth.addUser({ workspace: 'elsewhere', email: 'stranger@else.test', password: PASSWORD, role: 'owner' })
    const strangerApi = await login(t.url, 'stranger@else.test', PASSWORD)
    expect((await owner.request('GET', `/api/admin/users/${stranger.id}/sessions`)).status).toBe(404)
    expect((await owner.request('PATCH', `/api/admin/users/${stranger.id}`, { role: 'viewer' })).status).toBe(404)
    const strangerSession = (await strangerApi.request('GET', '/api/admin/users')).body.items[0].id
    expect(strangerSession).toBe(stranger.id)
    const sessions = (await strangerApi.request('GET', `/api/admin/users/${stranger.id}/sessions`)).body.items
    expect((await owner.request('DELETE', `/api/admin/sessions/${sessions[0].id}`)).status).toBe(404)
    expect((await strangerApi.request('GET', '/api/me')).status).toBe(200)

    const lastOwner = await strangerApi.request('PATCH', `/api/admin/users/${stranger.id}`, { role: 'admin' })
    expect(lastOwner.status).toBe(409)
    expect(lastOwner.body.error.code).toBe('conflict')
  })
})
