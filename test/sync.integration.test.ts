import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { fieldsOf, notesOf } from '../shared/docLayout.js'
import { MESSAGE } from '../shared/protocol.js'
import {
  type Api,
  type SeededUsers,
  type TestServer,
  presenceWatcher,
  closeCodeOf,
  provider,
  startSeeded,
  startServer,
  synced,
  until,
} from './helpers/server.js'
import { RawClient, awarenessMessage } from './helpers/trust.js'
import { describeBackends } from './helpers/backends.js'

describeBackends('sync', (backend) => {
  let t: TestServer
  let owner: Api
  let member: Api
  let users: SeededUsers

  beforeAll(async () => {
    ;({
      t,
      users,
      api: { owner, member },
    } = await startSeeded(['owner', 'member'], backend.options()))
  })
  afterAll(() => t.close())

  async function newDeal(title = 'Big deal'): Promise<string> {
    const res = await owner.request('POST', '/api/records/deals', { title, amount: 100, stage: 'lead' })
    expect(res.status).toBe(201)
    return res.body.id as string
  }

  describe('sync core', () => {
    it('20 providers co-editing one deal converge, and every edit is present', async () => {
      const id = await newDeal()
      const docName = `acme/deals/${id}`
      const providers = Array.from({ length: 20 }, (_, i) => provider(t.wsUrl, docName, i % 2 ? owner.token : member.token))
      await Promise.all(providers.map(synced))
      providers.forEach((p, i) => {
        p.doc.transact(() => {
          fieldsOf(p.doc).set(`x${i}` as never, i)
          notesOf(p.doc).insert(0, `[edit ${i}]`)
        })
      })
      // x<i> are not fields of deals: the gate reverts them. Use valid concurrent edits too.
      providers.forEach((p, i) => {
        notesOf(p.doc).insert(notesOf(p.doc).length, `<tail ${i}>`)
        if (i === 7) fieldsOf(p.doc).set('amount', 777)
      })
      const expected = (doc: Y.Doc) => {
        const notes = notesOf(doc).toString()
        return providers.every((_, i) => notes.includes(`[edit ${i}]`) && notes.includes(`<tail ${i}>`))
      }
      await until(() => providers.every((p) => expected(p.doc)), 'all notes edits everywhere')
      await until(() => providers.every((p) => fieldsOf(p.doc).get('amount') === 777), 'amount everywhere')
      await until(() => providers.every((p) => fieldsOf(p.doc).get('x3') === undefined), 'unknown fields reverted everywhere')
      const states = providers.map((p) => JSON.stringify({ f: fieldsOf(p.doc).toJSON(), n: notesOf(p.doc).toString() }))
      expect(new Set(states).size).toBe(1)
      const rest = await owner.request('GET', `/api/records/deals/${id}`)
      expect(rest.body.notes).toBe(notesOf(providers[0]!.doc).toString())
      expect(rest.body.amount).toBe(777)
      providers.forEach((p) => p.destroy())
    })

    it('a REST PATCH during live editing merges with the editors', async () => {
      const id = await newDeal('Merge me')
      const a = provider(t.wsUrl, `acme/deals/${id}`, member.token)
      await synced(a)
      notesOf(a.doc).insert(0, 'typed live')
      fieldsOf(a.doc).set('currency', 'USD')
      const patch = await owner.request('PATCH', `/api/records/deals/${id}`, { stage: 'won', amount: 5000 })
      expect(patch.status).toBe(200)
      await until(() => fieldsOf(a.doc).get('stage') === 'won', 'patch reaches the editor')
      await until(async () => (await owner.request('GET', `/api/records/deals/${id}`)).body.notes === 'typed live', 'live edit persisted')
      const final = (await owner.request('GET', `/api/records/deals/${id}`)).body
      expect(final).toMatchObject({ title: 'Merge me', stage: 'won', amount: 5000, currency: 'USD', notes: 'typed live' })
      a.destroy()
    })

    it("a writer is not sent its own update back, only the others' updates", async () => {
      const id = await newDeal('No echo')
      const a = provider(t.wsUrl, `acme/deals/${id}`, member.token)
      const b = provider(t.wsUrl, `acme/deals/${id}`, owner.token)
      await Promise.all([synced(a), synced(b)])
      // Which clients' structs each update the server sends to `a` carries.
      const writersSeenByA: number[][] = []
      a.ws!.addEventListener('message', (event: { data: unknown }) => {
        const decoder = decoding.createDecoder(new Uint8Array(event.data as ArrayBuffer))
        if (decoding.readVarUint(decoder) !== MESSAGE.sync) return
        const subType = decoding.readVarUint(decoder)
        if (subType !== syncProtocol.messageYjsUpdate) return
        const { structs } = Y.decodeUpdate(decoding.readVarUint8Array(decoder))
        writersSeenByA.push([...new Set(structs.map((s) => s.id.client))])
      })
      notesOf(a.doc).insert(0, 'from a')
      await until(() => notesOf(b.doc).toString().includes('from a'), "b has a's edit")
      notesOf(b.doc).insert(0, 'from b ')
      await until(() => notesOf(a.doc).toString().includes('from b'), "a has b's edit")
      // Messages arrive in order: an echo of a's edit would have come before b's.
      expect(writersSeenByA.length).toBeGreaterThan(0)
      expect(writersSeenByA.flat()).not.toContain(a.doc.clientID)
      expect(writersSeenByA.flat()).toContain(b.doc.clientID)
      a.destroy()
      b.destroy()
    })
  })

  describe('auth on the sync endpoint', () => {
    it('closes with 4401 without a token or with a bad one', async () => {
      expect(await closeCodeOf(`${t.wsUrl}/sync/acme/deals/abc`)).toBe(4401)
      expect(await closeCodeOf(`${t.wsUrl}/sync/acme/deals/abc?token=nope`)).toBe(4401)
    })
    it("closes with 4403 for another workspace's document", async () => {
      expect(await closeCodeOf(`${t.wsUrl}/sync/other/deals/abc?token=${owner.token}`)).toBe(4403)
    })
    it('closes with 4404 for an unknown collection', async () => {
      expect(await closeCodeOf(`${t.wsUrl}/sync/acme/spaceships/abc?token=${owner.token}`)).toBe(4404)
    })
    it('answers a wrong password and an unknown e-mail alike with 401', async () => {
      const post = (email: string) =>
        fetch(`${t.url}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password: 'wrong password' }),
        })
      const wrong = await post(users.owner.email)
      const unknown = await post('nobody@acme.test')
      expect(wrong.status).toBe(401)
      expect(unknown.status).toBe(401)
      expect(await wrong.json()).toEqual(await unknown.json())
    })
  })
})

// Presence lives in memory only: one backend is enough.
describe('presence', () => {
  it('a presence its client stopped renewing is removed after the awareness timeout; a renewed one stays, and both sockets stay open', async () => {
    const awarenessTimeoutMs = 600
    const s = await startServer({ registry: { unloadGraceMs: 100, awarenessTimeoutMs } })
    try {
      const { url, watcher } = await presenceWatcher(s)
      const stale = new RawClient(url)
      const renewing = new RawClient(url)
      await Promise.all([stale.opened, renewing.opened])
      const presence = (clientID: number, clock: number) => awarenessMessage([{ clientID, clock, json: JSON.stringify({ cursor: clock }) }])
      let clock = 1
      renewing.send(presence(4343, clock))
      // A client renews its state by sending it again with the next clock.
      const renew = setInterval(() => renewing.send(presence(4343, ++clock)), awarenessTimeoutMs / 4)
      const announcedAt = Date.now()
      stale.send(presence(4242, 1))
      await until(() => watcher.awareness.getStates().has(4242) && watcher.awareness.getStates().has(4343), 'both presences')
      await until(() => !watcher.awareness.getStates().has(4242), 'the stale presence removed')
      expect(Date.now() - announcedAt).toBeGreaterThanOrEqual(awarenessTimeoutMs)
      // Two more timeouts: the renewed presence is still there.
      await new Promise((resolve) => setTimeout(resolve, 2 * awarenessTimeoutMs))
      clearInterval(renew)
      expect(watcher.awareness.getStates().has(4343)).toBe(true)
      expect(watcher.awareness.getStates().has(4242)).toBe(false)
      expect(stale.isOpen && renewing.isOpen).toBe(true)
      watcher.destroy()
      stale.close()
      renewing.close()
    } finally {
      await s.close()
    }
  })
})
