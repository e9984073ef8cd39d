/**
 * No silent overwrite: when two people set the same field concurrently (neither had seen the
 * other's value), Yjs keeps one value and the server tells both of them, keeps the lost value in
 * the history and counts it. Stock y-websocket providers over real sockets; each client's Yjs
 * client id is chosen so the test knows which value Yjs keeps (the higher id wins).
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeBackends, query, sameDatabase } from './helpers/backends.js'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { fieldsOf } from '../shared/docLayout.js'
import type { ServerNotice } from '../shared/protocol.js'
import { type Api, type Seeded, type TestServer, provider, sample, startSeeded, startServer, synced, until } from './helpers/server.js'
import { captureNotices } from './helpers/trust.js'

/** Yjs keeps the value of the higher client id when two sets are concurrent. */
const LOSER_ID = 1001
const WINNER_ID = 2002

describeBackends('overwrites', (backend) => {
  let s: Seeded<'owner' | 'member' | 'member2'>
  let t: TestServer
  const open: WebsocketProvider[] = []

  beforeAll(async () => {
    s = await startSeeded(['owner', 'member', 'member2'], backend.options())
    t = s.t
  })
  afterAll(async () => {
    for (const p of open) p.destroy()
    await t.close()
  })

  interface Client {
    p: WebsocketProvider
    notices: ServerNotice[]
    fields: Y.Map<unknown>
  }

  /** A stock provider with notices on, whose document writes with Yjs client id `clientId`; synced. */
  async function client(api: Api, docName: string, clientId: number, doc = new Y.Doc(), server = t): Promise<Client> {
    doc.clientID = clientId
    const p = provider(server.wsUrl, docName, api.token, { doc, params: { notices: '1' } })
    open.push(p)
    const notices = captureNotices(p)
    await synced(p)
    return { p, notices, fields: fieldsOf(doc) }
  }

  async function createDeal(api = s.api.owner): Promise<{ id: string; docName: string }> {
    const res = await api.request('POST', '/api/records/deals', { title: 'Deal', stage: 'lead', amount: 100, currency: 'EUR' })
    expect(res.status).toBe(201)
    return { id: res.body.id as string, docName: `acme/deals/${res.body.id as string}` }
  }

  async function serverValue(id: string, field: string, api = s.api.owner): Promise<unknown> {
    return (await api.request('GET', `/api/records/deals/${id}`)).body[field]
  }

  /** Reconnects a provider and waits until the server holds `value` in `field`. */
  async function reconnect(c: Client, id: string, field: string, value: unknown): Promise<void> {
    c.p.connect()
    await synced(c.p)
    await until(async () => (await serverValue(id, field)) === value, `the server holds ${field} = ${value}`)
  }

  /** Disconnects a provider and waits until the server has let go of its socket. */
  async function disconnect(c: Client, docName: string, userId: string, server = t): Promise<void> {
    c.p.disconnect()
    await until(
      () => ![...(server.server.registry.get(docName)?.peers ?? [])].some((peer) => peer.principal.userId === userId),
      'the server saw the socket close',
    )
  }

  async function overwriteCount(server = t): Promise<number> {
    return sample(await (await fetch(`${server.url}/metrics`)).text(), 'accord_overwrites_total', { collection: 'deals' })
  }

  async function keptNotices(server: TestServer, userId: string): Promise<ServerNotice[]> {
    const rows = await query<{ notice: string }>(server.server, 'SELECT notice FROM pending_notices WHERE user_id = ? ORDER BY seq', [
      userId,
    ])
    return rows.map((row) => JSON.parse(row.notice) as ServerNotice)
  }

  /** A new deal, member and member2 synced to it, then both offline setting `amount` (member2's value is kept). */
  async function offlineSets(lost: number, kept: number): Promise<{ id: string; docName: string; loser: Client; winner: Client }> {
    const { id, docName } = await createDeal()
    const loser = await client(s.api.member, docName, LOSER_ID)
    const winner = await client(s.api.member2, docName, WINNER_ID)
    loser.p.disconnect()
    winner.p.disconnect()
    loser.fields.set('amount', lost)
    winner.fields.set('amount', kept)
    return { id, docName, loser, winner }
  }

  /** The notices of an overwrite of `amount`, as the loser and the winner get them. */
  const overwritten = (yours: unknown, kept: unknown, by: { id: string; name: string }) => ({
    type: 'overwritten',
    path: 'fields.amount',
    yours,
    kept,
    by,
    at: expect.any(String),
  })
  const overwrote = (yours: unknown, replaced: unknown, by: { id: string; name: string }) => ({
    type: 'overwrote',
    path: 'fields.amount',
    yours,
    replaced,
    by,
    at: expect.any(String),
  })

  const memberName = 'member of acme'
  const member2Name = 'member2 of acme'

  describe('two people setting the same field concurrently', () => {
    it('[OW1] offline sets of one field by two people converge; the loser is told overwritten, the winner overwrote, the history keeps the lost value, /metrics counts one', async () => {
      const before = await overwriteCount()
      const { id, loser, winner } = await offlineSets(7000, 9000)

      await reconnect(winner, id, 'amount', 9000)
      loser.p.connect()
      await until(() => loser.fields.get('amount') === 9000 && winner.fields.get('amount') === 9000, 'both converge on 9000')
      await until(() => loser.notices.length > 0 && winner.notices.length > 0, 'both told')

      const member = s.users.member.id
      const member2 = s.users.member2.id
      expect(loser.notices).toEqual([overwritten(7000, 9000, { id: member2, name: member2Name })])
      expect(winner.notices).toEqual([overwrote(9000, 7000, { id: member, name: memberName })])
      expect(Number.isNaN(Date.parse((loser.notices[0] as { at: string }).at))).toBe(false)

      const history = await s.api.owner.request('GET', `/api/records/deals/${id}/history`)
      const kept = history.body.items.filter((entry: { overwritten: unknown[] }) => entry.overwritten.length > 0)
      expect(kept).toEqual([expect.objectContaining({ userId: member2, overwritten: [{ field: 'amount', value: 7000, userId: member }] })])
      // The loser's set changed nothing: it is no entry of its own.
      expect(history.body.items.some((entry: { userId: string }) => entry.userId === member)).toBe(false)
      expect(await overwriteCount()).toBe(before + 1)
    })

    it('[OW2] a loser not connected when the overwrite happens is told when it next connects with notices on', async () => {
      const { id, docName, loser, winner } = await offlineSets(7000, 9000)

      await reconnect(loser, id, 'amount', 7000)
      await disconnect(loser, docName, s.users.member.id)
      await reconnect(winner, id, 'amount', 9000)
      await until(() => winner.notices.length > 0, 'the winner told at once')
      expect(winner.notices).toEqual([expect.objectContaining({ type: 'overwrote', yours: 9000, replaced: 7000 })])
      await until(async () => (await keptNotices(t, s.users.member.id)).length > 0, 'the loser’s notice kept')
      expect(loser.notices).toEqual([])

      loser.p.connect()
      await until(() => loser.notices.length > 0, 'the loser told on reconnect')
      expect(loser.notices).toEqual([overwritten(7000, 9000, { id: s.users.member2.id, name: member2Name })])
      await until(() => loser.fields.get('amount') === 9000, 'the loser converges')
      expect(await keptNotices(t, s.users.member.id)).toEqual([])
    })

    it('[OW3] different fields set concurrently, one client setting a field twice, and a set after seeing the other value are no overwrite', async () => {
      const before = await overwriteCount()
      const { id, docName } = await createDeal()
      const a = await client(s.api.member, docName, LOSER_ID)
      const b = await client(s.api.member2, docName, WINNER_ID)

      // Different fields, both offline.
      a.p.disconnect()
      b.p.disconnect()
      a.fields.set('amount', 1)
      b.fields.set('stage', 'qualified')
      await reconnect(b, id, 'stage', 'qualified')
      await reconnect(a, id, 'amount', 1)
      // One client setting a field twice, offline and online.
      a.p.disconnect()
      a.fields.set('amount', 2)
      a.fields.set('amount', 3)
      await reconnect(a, id, 'amount', 3)
      a.fields.set('amount', 4)
      a.fields.set('amount', 5)
      await until(() => b.fields.get('amount') === 5, 'b sees 5')
      // b sets the field after it saw a's value.
      b.fields.set('amount', 6)
      await until(() => a.fields.get('amount') === 6, 'a sees 6')

      // A real overwrite last: once both are told of it, anything sent before has arrived.
      a.p.disconnect()
      b.p.disconnect()
      a.fields.set('currency', 'USD')
      b.fields.set('currency', 'GBP')
      await reconnect(b, id, 'currency', 'GBP')
      a.p.connect()
      await until(() => a.notices.length > 0 && b.notices.length > 0, 'both told of the currency')
      expect(a.notices).toEqual([expect.objectContaining({ type: 'overwritten', path: 'fields.currency', yours: 'USD', kept: 'GBP' })])
      expect(b.notices).toEqual([expect.objectContaining({ type: 'overwrote', path: 'fields.currency', yours: 'GBP', replaced: 'USD' })])
      expect(await overwriteCount()).toBe(before + 1)
    })

    it('[OW4] an offline set arriving after a REST PATCH of the same field by someone else is an overwrite, the PATCH author the other party', async () => {
      const { id, docName } = await createDeal()
      const offline = await client(s.api.member, docName, 1)
      offline.p.disconnect()
      offline.fields.set('amount', 7000)
      expect((await s.api.owner.request('PATCH', `/api/records/deals/${id}`, { amount: 9000 })).status).toBe(200)

      offline.p.connect()
      await until(() => offline.notices.length > 0, 'the offline editor told')
      const owner = { id: s.users.owner.id, name: 'owner of acme' }
      expect(offline.notices).toEqual([overwritten(7000, 9000, owner)])
      await until(() => offline.fields.get('amount') === 9000, 'the PATCH value kept')

      // The PATCH author had no socket open: told when they open the record with notices on.
      const patcher = await client(s.api.owner, docName, 3003)
      await until(() => patcher.notices.length > 0, 'the PATCH author told')
      expect(patcher.notices).toEqual([overwrote(9000, 7000, { id: s.users.member.id, name: memberName })])
    })

    it('[OW5] the author of the value replaced is known after a restart (who wrote with which client id is stored)', async () => {
      const database = await backend.another()
      const own = await startSeeded(['owner', 'member', 'member2'], database.options)
      let restarted: TestServer | null = null
      try {
        const { id, docName } = await createDeal(own.api.owner)
        const first = await client(own.api.member, docName, LOSER_ID, new Y.Doc(), own.t)
        const laterDoc = new Y.Doc()
        const later = await client(own.api.member2, docName, WINNER_ID, laterDoc, own.t)
        later.p.destroy()
        first.fields.set('amount', 7000)
        await until(async () => (await serverValue(id, 'amount', own.api.owner)) === 7000, 'the first value stored')
        first.p.destroy()
        laterDoc.getMap('fields').set('amount', 9000)

        await own.t.server.close()
        restarted = await startServer(sameDatabase(own.t))
        const resumed = await client(own.api.member2, docName, WINNER_ID, laterDoc, restarted)
        await until(() => resumed.notices.length > 0, 'the later writer told')
        expect(resumed.notices).toEqual([overwrote(9000, 7000, { id: own.users.member.id, name: memberName })])
        const server = restarted
        await until(async () => (await keptNotices(server, own.users.member.id)).length > 0, 'the first writer’s notice kept')
        expect(await keptNotices(server, own.users.member.id)).toEqual([
          expect.objectContaining({ type: 'overwritten', yours: 7000, kept: 9000 }),
        ])
      } finally {
        for (const p of open.splice(0)) p.destroy()
        await restarted?.close()
        rmSync(own.t.dir, { recursive: true, force: true })
        await database.drop()
      }
    })

    it('[OW6] a stock client writing a plain string over a text field someone else typed overwrites the whole text, and both are told', async () => {
      const { id, docName } = await createDeal()
      const typist = await client(s.api.owner, docName, LOSER_ID)
      const plain = await client(s.api.member, docName, WINNER_ID)
      const before = await overwriteCount()
      plain.fields.set('title', 'Plain title')
      await until(async () => (await serverValue(id, 'title')) === 'Plain title', 'the plain string moved into the text')
      await until(() => plain.notices.length > 0 && typist.notices.length > 0, 'both told')
      expect(plain.notices).toEqual([
        expect.objectContaining({
          type: 'overwrote',
          path: 'fields.title',
          yours: 'Plain title',
          replaced: 'Deal',
          by: expect.objectContaining({ id: s.users.owner.id }),
        }),
      ])
      expect(typist.notices).toEqual([
        expect.objectContaining({
          type: 'overwritten',
          path: 'fields.title',
          yours: 'Deal',
          kept: 'Plain title',
          by: expect.objectContaining({ id: s.users.member.id }),
        }),
      ])
      expect(await overwriteCount()).toBe(before + 1)
      const history = (await s.api.owner.request('GET', `/api/records/deals/${id}/history`)).body.items as { overwritten: unknown[] }[]
      expect(history.flatMap((entry) => entry.overwritten)).toEqual([{ field: 'title', value: 'Deal', userId: s.users.owner.id }])
    })
  })
})
