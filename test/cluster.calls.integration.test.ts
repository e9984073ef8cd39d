/**
 * Calls across members (docs/cluster.md, "Calls"): HTTP writes and the server's own writes
 * (index entries, booking decisions) for a document another member owns run at that owner.
 * Also a session ended on one member closing its sockets on all, and a relayed client told
 * 1001 when its owner hands over. Real servers as members in this process on ephemeral ports,
 * one fresh PostgreSQL database, the shared Redis, stock y-websocket providers.
 */
import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import type { Reservation } from '../shared/collections.js'
import { INBOX_JOBS, INBOX_NOTIFICATIONS, fieldsOf, indexEntriesOf, notesOf } from '../shared/docLayout.js'
import { indexDocName } from '../shared/docNames.js'
import { textOf } from '../shared/textFields.js'
import { BASE, MIN, ledgerDoubleBookings, settled, slotFields, storedEvents } from './calendar.helpers.js'
import { clusterServers } from './helpers/clusterServers.js'
import { skipPg } from './helpers/pg.js'
import { skipRedis } from './helpers/redis.js'
import { type Api, type TestServer, login, provider, synced, until } from './helpers/server.js'
import { closeCodes } from './helpers/trust.js'

/** Leases that a loaded machine renews in time (a claim is refused while the claimer's lease is in doubt). */
const LONG = { leaseMs: 5000, renewEveryMs: 250, safetyMarginMs: 1000 }

describe.skipIf(skipPg || skipRedis)('calls: writes to a document another member owns go through its owner', () => {
  const cluster = clusterServers()
  const three = () => Promise.all(['a', 'b', 'c'].map((node) => cluster.member(node, LONG)))
  const connect = (t: TestServer, docName: string, token: string): WebsocketProvider => cluster.track(provider(t.wsUrl, docName, token))
  const signIn = (t: TestServer, role: 'owner' | 'member' = 'owner') =>
    login(t.url, cluster.users[role].email, cluster.users[role].password)
  const ownerOf = async (doc: string) => (await cluster.pool.query('SELECT owner FROM doc_owners WHERE doc = $1', [doc])).rows[0]?.owner

  async function newDeal(api: Api, title = 'Deal'): Promise<string> {
    const res = await api.request('POST', '/api/records/deals', { title, amount: 1, stage: 'lead' })
    expect(res.status).toBe(201)
    return res.body.id as string
  }

  it('[CC1] a REST PATCH, DELETE and restore at non-owners merge into the document a client on the owner is editing', async () => {
    const [a, b, c] = await three()
    const onOwner = await signIn(a!)
    const id = await newDeal(onOwner)
    const docName = `acme/deals/${id}`
    const client = connect(a!, docName, onOwner.token)
    await synced(client)
    expect(await ownerOf(docName)).toBe(a!.server.cluster!.id)
    notesOf(client.doc).insert(0, 'typed on a')
    const atB = await signIn(b!, 'member')
    const patched = await atB.request('PATCH', `/api/records/deals/${id}`, { stage: 'won', amount: 42 })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ stage: 'won', amount: 42 })
    await until(() => fieldsOf(client.doc).get('stage') === 'won', 'the patch reaches the client on the owner')
    // Merged, not overwritten: the client's notes stay, with the patch.
    expect(notesOf(client.doc).toString()).toBe('typed on a')
    await until(async () => notesOf(await cluster.stored(docName)).toString() === 'typed on a', 'the client edit committed')
    expect(fieldsOf(await cluster.stored(docName)).get('amount')).toBe(42)
    // What the trip through the owner costs (logged, not asserted): PATCHes at the owner and at b.
    const median = async (api: Api) => {
      const times: number[] = []
      for (let i = 0; i < 20; i++) {
        const started = performance.now()
        expect((await api.request('PATCH', `/api/records/deals/${id}`, { amount: 42 + (i % 2) })).status).toBe(200)
        times.push(performance.now() - started)
      }
      return times.sort((x, y) => x - y)[10]!.toFixed(1)
    }
    console.log(`PATCH median: at the owner ${await median(onOwner)} ms, at a non-owner ${await median(atB)} ms`)
    expect((await atB.request('PATCH', `/api/records/deals/${id}`, { amount: 42 })).status).toBe(200)
    // Only the owner loaded the document.
    expect(b!.server.registry.get(docName)).toBeUndefined()
    expect(await ownerOf(docName)).toBe(a!.server.cluster!.id)
    // The owner's answers come back as they would on it: refused input, a stale If-Match.
    const invalid = await atB.request('PATCH', `/api/records/deals/${id}`, { stage: 'bogus' })
    expect(invalid.status).toBe(400)
    expect(invalid.body.error.code).toBe('invalid')
    const stale = await atB.request('PATCH', `/api/records/deals/${id}`, { amount: 1 }, { 'if-match': '"not-the-etag"' })
    expect(stale.status).toBe(412)
    const etag = patched.headers.get('etag')!
    notesOf(client.doc).insert(0, '!')
    await until(async () => notesOf(await cluster.stored(docName)).toString() === '!typed on a', 'a newer edit committed')
    expect((await atB.request('PATCH', `/api/records/deals/${id}`, { amount: 2 }, { 'if-match': etag })).status).toBe(412)
    textOf(client.doc, 'title').insert(0, 'Big ')
    const atC = await signIn(c!)
    expect((await atC.request('DELETE', `/api/records/deals/${id}`)).status).toBe(204)
    await until(() => client.doc.getMap('authority').get('deleted') !== undefined, 'the deletion reaches the client')
    expect((await atC.request('POST', `/api/records/deals/${id}/restore`)).status).toBeLessThan(300)
    await until(() => client.doc.getMap('authority').get('deleted') === undefined, 'the restore reaches the client')
    const final = await atC.request('GET', `/api/records/deals/${id}`)
    expect(final.body).toMatchObject({ title: 'Big Deal', stage: 'won', amount: 42, notes: '!typed on a' })
    expect(c!.server.registry.get(docName)).toBeUndefined()
  })

  it('[CC2] a document held by a member that does not serve it: a PATCH elsewhere answers 503 unavailable, and succeeds once it is released', async () => {
    const [a, b] = await three()
    const api = await signIn(a!)
    const id = await newDeal(api)
    const docName = `acme/deals/${id}`
    await until(() => a!.server.registry.get(docName) === undefined, 'the deal unloaded from a')
    expect((await a!.server.cluster!.membership.claim(docName)).ok).toBe(true)
    const atB = await signIn(b!)
    const refused = await atB.request('PATCH', `/api/records/deals/${id}`, { stage: 'won' })
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe('unavailable')
    await a!.server.cluster!.membership.release(docName)
    const done = await atB.request('PATCH', `/api/records/deals/${id}`, { stage: 'won' })
    expect(done.status).toBe(200)
    expect(await ownerOf(docName)).toBe(b!.server.cluster!.id)
  })

  it('[CC3] fifty overlapping bookings through three members at once, each event owned by another member: exactly one confirmed, never two in the ledger', async () => {
    const members = await three()
    const apis = await Promise.all(members.map((t) => signIn(t, 'member')))
    const ids: string[] = []
    // Fifty events on distinct days, then each kept loaded (so owned) by member i % 3.
    for (let i = 0; i < 50; i++) {
      const start = BASE + (i + 1) * 24 * 60 * MIN
      const res = await apis[i % 3]!.request('POST', '/api/records/events', {
        title: `booking ${i}`,
        ...slotFields({ start, end: start + 30 * MIN }),
      })
      expect(res.status).toBe(201)
      ids.push(res.body.id as string)
    }
    const docOf = (id: string) => `acme/events/${id}`
    await until(() => members.every((t) => ids.every((id) => t.server.registry.get(docOf(id)) === undefined)), 'the events unloaded')
    await Promise.all(ids.map(async (id, i) => (await members[i % 3]!.server.registry.open(docOf(id))).retain()))
    // All at once, each through the member after its owner: one room, overlapping slots.
    const slot = (i: number) =>
      slotFields({ start: BASE + (i % 7) * 5 * MIN, end: BASE + 60 * MIN + (i % 7) * 5 * MIN, room: 'Board room' })
    let overlapping = 0
    const sampling = (async () => {
      for (let k = 0; k < 20; k++) {
        overlapping = Math.max(overlapping, await ledgerDoubleBookings(members[0]!.server))
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
    const answers = await Promise.all(ids.map((id, i) => apis[(i + 1) % 3]!.request('PATCH', `/api/records/events/${id}`, slot(i))))
    await sampling
    expect(answers.map((r) => r.status)).toEqual(ids.map(() => 200))
    for (const [i, id] of ids.entries()) expect(await ownerOf(docOf(id))).toBe(members[i % 3]!.server.cluster!.id)
    await until(async () => {
      for (const t of members) await t.server.reservations.idle()
      return (await settled(members[0]!.server, 'acme', ids)) && (await settled(members[1]!.server, 'acme', ids))
    }, 'every decision mirrored into its event')
    const reservations = (await storedEvents(members[0]!.server, 'acme', ids)).map((e) => e.authority.reservation as Reservation)
    const confirmed = reservations.filter((r) => r.status === 'confirmed')
    expect(confirmed).toHaveLength(1)
    expect(reservations.filter((r) => r.status === 'conflict')).toHaveLength(49)
    expect(overlapping).toBe(0)
    expect(await ledgerDoubleBookings(members[0]!.server)).toBe(0)
  })

  it('[CC4] logging out on one member closes that session’s sockets on all three with 4401, within a second', async () => {
    const [a, b, c] = await three()
    const api = await signIn(a!, 'member')
    const other = await signIn(a!, 'member')
    const id = await newDeal(api)
    const docName = `acme/deals/${id}`
    const sockets = [a!, b!, c!].map((t) => connect(t, docName, api.token))
    const kept = connect(b!, docName, other.token)
    const codes = sockets.map((p) => closeCodes(p))
    const keptCodes = closeCodes(kept)
    await Promise.all([...sockets, kept].map((p) => synced(p)))
    for (const p of sockets) p.shouldConnect = false
    const loggedOut = Date.now()
    expect((await api.request('POST', '/api/auth/logout')).status).toBeLessThan(300)
    await until(() => codes.every((c) => c.length > 0), 'every socket of the session closed', 1000)
    console.log(`logout: every socket of the session closed within ${Date.now() - loggedOut} ms`)
    expect(codes.map((c) => c[0])).toEqual([4401, 4401, 4401])
    expect(keptCodes).toEqual([])
  })

  it('[CC5] an index list stays live on a member that does not own the record that changed', async () => {
    const [a, b, c] = await three()
    const api = await signIn(a!)
    const indexName = indexDocName('acme', 'deals')
    const listOnA = connect(a!, indexName, api.token)
    await synced(listOnA)
    expect(await ownerOf(indexName)).toBe(a!.server.cluster!.id)
    const listOnC = connect(c!, indexName, api.token)
    await synced(listOnC)
    // A deal created and edited on b: b owns it, a owns the index.
    const atB = await signIn(b!)
    const id = await newDeal(atB, 'Indexed')
    const docName = `acme/deals/${id}`
    const onB = connect(b!, docName, atB.token)
    await synced(onB)
    expect(await ownerOf(docName)).toBe(b!.server.cluster!.id)
    const titleIn = (p: WebsocketProvider) => indexEntriesOf(p.doc).get(id)?.title
    await until(() => titleIn(listOnA) === 'Indexed' && titleIn(listOnC) === 'Indexed', 'the new deal in both lists')
    textOf(onB.doc, 'title').insert(0, 'Re')
    await until(() => titleIn(listOnA) === 'ReIndexed' && titleIn(listOnC) === 'ReIndexed', 'the renamed deal in both lists')
    expect(b!.server.registry.get(indexName)).toBeUndefined()
    expect(await ownerOf(indexName)).toBe(a!.server.cluster!.id)
  })

  it('[CC7] a job queued and run on other members shows live in the inbox its user has open on one member, with its notification', async () => {
    const [a, b, c] = await three()
    const api = await signIn(a!, 'member')
    const inbox = `acme/inbox/${api.userId}`
    const tab = connect(a!, inbox, api.token)
    await synced(tab)
    expect(await ownerOf(inbox)).toBe(a!.server.cluster!.id)
    // Only b and c run jobs: the runner writing the job's progress never owns the inbox.
    await a!.server.jobs.runner.close()
    const atB = await signIn(b!, 'member')
    const res = await atB.request('POST', '/api/exports', { target: 'csv', collections: ['deals'] })
    expect(res.status).toBe(202)
    const id = res.body.id as string
    const jobs = tab.doc.getMap<{ status: string }>(INBOX_JOBS)
    await until(() => jobs.get(id)?.status === 'succeeded', 'the job succeeds in the inbox on a')
    await until(
      () =>
        tab.doc
          .getArray<{ jobId: string }>(INBOX_NOTIFICATIONS)
          .toArray()
          .some((n) => n.jobId === id),
      'its notification',
    )
    expect(b!.server.registry.get(inbox)).toBeUndefined()
    expect(c!.server.registry.get(inbox)).toBeUndefined()
  })

  it('[CC6] a relayed client is told 1001 when the owner hands over (SIGTERM)', async () => {
    const [a, b] = await three()
    const api = await signIn(a!)
    const docName = `acme/deals/${await newDeal(api)}`
    const onA = connect(a!, docName, api.token)
    await synced(onA)
    const relayed = connect(b!, docName, api.token)
    const codes = closeCodes(relayed)
    await synced(relayed)
    expect(b!.server.registry.get(docName)).toBeUndefined()
    relayed.shouldConnect = false
    await a!.server.close()
    await until(() => codes.length > 0, 'the relayed client closed')
    expect(codes[0]).toBe(1001)
  })
})
