/**
 * The trust boundary on the write path, through real sockets: the validation gate
 * reverts only what is invalid (socket open, sender told why), authority fields and
 * server-only documents are reverted, viewers never write, presence is stamped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import { MAX_NOTES_LENGTH } from '../shared/collections.js'
import { authorityOf, fieldsOf, itemsOf, itemToYMap, notesOf, readFields, readItems } from '../shared/docLayout.js'
import type { RejectedNotice } from '../shared/protocol.js'
import { type Api, type TestServer, login, provider, seedWorkspace, startServer, synced, until } from './helpers/server.js'
import { RawClient, awarenessMessage, captureNotices, closeCodes } from './helpers/trust.js'

let t: TestServer
let member: Api
let member2: Api
let owner: Api
let viewer: Api
let users: Awaited<ReturnType<typeof seedWorkspace>>
const open: WebsocketProvider[] = []

beforeAll(async () => {
  t = await startServer()
  users = await seedWorkspace(t.server)
  member = await login(t.url, users.member.email, users.member.password)
  member2 = await login(t.url, users.member2.email, users.member2.password)
  owner = await login(t.url, users.owner.email, users.owner.password)
  viewer = await login(t.url, users.viewer.email, users.viewer.password)
})
afterAll(async () => {
  open.forEach((p) => p.destroy())
  await t.close()
})

function connect(docName: string, api: Api, notices = false): WebsocketProvider {
  const p = provider(t.wsUrl, docName, api.token, notices ? { params: { notices: '1' } } : {})
  open.push(p)
  return p
}

async function create(collection: string, body: Record<string, unknown>): Promise<string> {
  const res = await owner.request('POST', `/api/records/${collection}`, body)
  expect(res.status).toBe(201)
  return res.body.id as string
}

/** Every value `key` of the fields map takes in `doc` from now on. */
function watchField(doc: Y.Doc, key: string): unknown[] {
  const seen: unknown[] = []
  fieldsOf(doc).observe((event) => {
    if (event.keysChanged.has(key)) seen.push(fieldsOf(doc).get(key))
  })
  return seen
}

function logCount(docName: string): number {
  return (t.server.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc = ?').get(docName) as { n: number }).n
}

const START = '2026-03-02T09:00:00Z'
const END = '2026-03-02T10:00:00Z'

const invalidEdits = [
  {
    rule: 'an invalid stage',
    collection: 'deals',
    body: { title: 'Gate', stage: 'lead', amount: 100 },
    key: 'stage',
    bad: 'bogus',
    valid: 'lead',
  },
  {
    rule: 'a negative amount',
    collection: 'deals',
    body: { title: 'Gate', stage: 'lead', amount: 100 },
    key: 'amount',
    bad: -5,
    valid: 100,
  },
  {
    rule: 'an end before the start',
    collection: 'events',
    body: { title: 'Gate', start: START, end: END },
    key: 'end',
    bad: '2026-03-02T08:00:00Z',
    valid: END,
  },
] as const

describe('validation gate', () => {
  it.each(invalidEdits)(
    '[T1] $rule is reverted for every provider, the sender is told why, its socket stays open and the valid part of the same update survives',
    async ({ collection, body, key, bad, valid }) => {
      const id = await create(collection, body)
      const docName = `acme/${collection}/${id}`
      const sender = connect(docName, member, true)
      const notices = captureNotices(sender)
      const senderCloses = closeCodes(sender)
      const others = [connect(docName, member2), connect(docName, owner)]
      await Promise.all([sender, ...others].map(synced))
      const seenByOthers = others.map((p) => watchField(p.doc, key))

      sender.doc.transact(() => {
        fieldsOf(sender.doc).set(key, bad)
        fieldsOf(sender.doc).set('title', 'Renamed in the same update')
        notesOf(sender.doc).insert(0, 'kept')
      })

      // The plain title a stock client sets is moved into the text root by the server.
      const converged = (p: WebsocketProvider) =>
        fieldsOf(p.doc).get(key) === valid &&
        readFields(p.doc, collection).title === 'Renamed in the same update' &&
        notesOf(p.doc).toString() === 'kept'
      await until(() => [sender, ...others].every(converged), 'every provider on the last valid value plus the valid edit')
      await until(() => notices.length > 0, 'a notice to the sender')
      expect(notices[0]).toMatchObject({ type: 'rejected', reason: 'invalid', issues: [expect.objectContaining({ path: key })] })
      for (const seen of seenByOthers) expect(seen).not.toContain(bad)

      // The socket stayed open: the same connection still carries edits.
      expect(senderCloses).toEqual([])
      expect(sender.wsconnected).toBe(true)
      notesOf(sender.doc).insert(4, '!')
      await until(() => others.every((p) => notesOf(p.doc).toString() === 'kept!'), 'a later edit from the same socket')
      const record = (await owner.request('GET', `/api/records/${collection}/${id}`)).body
      expect(record).toMatchObject({ [key]: valid, title: 'Renamed in the same update', notes: 'kept!' })
      // The history keeps the valid part of the update and leaves the rejected value and its revert out.
      await until(async () => (await owner.request('GET', `/api/records/${collection}/${id}/history`)).body.items.length > 1, 'history')
      const history = (await owner.request('GET', `/api/records/${collection}/${id}/history`)).body.items as { fields: string[] }[]
      expect(history.some((entry) => entry.fields.includes('title'))).toBe(true)
      expect(history.slice(0, -1).some((entry) => entry.fields.includes(key))).toBe(false)
    },
  )

  it('[T1] invalid line items are reverted and notes past their limit taken back; valid edits in the same update survive', async () => {
    const id = await create('invoices', { items: [{ description: 'first', quantity: 1, unitPrice: 5 }], notes: 'before' })
    const docName = `acme/invoices/${id}`
    const sender = connect(docName, member, true)
    const notices = captureNotices(sender)
    const observer = connect(docName, owner)
    await Promise.all([sender, observer].map(synced))
    sender.doc.transact(() => {
      ;(itemsOf(sender.doc).get(0) as Y.Map<unknown>).set('quantity', 0)
      itemsOf(sender.doc).push([itemToYMap({ description: 'bad', quantity: 1, unitPrice: -1 })])
      itemsOf(sender.doc).push([itemToYMap({ description: 'good', quantity: 2, unitPrice: 3 })])
      notesOf(sender.doc).insert(6, 'x'.repeat(MAX_NOTES_LENGTH))
      fieldsOf(sender.doc).set('status', 'sent')
    })
    const expected = JSON.stringify([
      { description: 'first', quantity: 1, unitPrice: 5 },
      { description: 'good', quantity: 2, unitPrice: 3 },
    ])
    const converged = (p: WebsocketProvider) =>
      JSON.stringify(readItems(p.doc)) === expected && notesOf(p.doc).toString() === 'before' && fieldsOf(p.doc).get('status') === 'sent'
    await until(() => [sender, observer].every(converged), 'items and notes reverted, status kept, everywhere')
    await until(() => notices.length > 0, 'a notice')
    expect((notices[0] as RejectedNotice).issues.map((i) => i.path)).toEqual(expect.arrayContaining(['items.0', 'items.1', 'notes']))
    expect(sender.wsconnected).toBe(true)
  })

  it('[T2] a forged authority.reservation is reverted', async () => {
    const id = await create('events', { title: 'Forged', start: START, end: END })
    const docName = `acme/events/${id}`
    const sender = connect(docName, member, true)
    const notices = captureNotices(sender)
    const observer = connect(docName, owner)
    await Promise.all([sender, observer].map(synced))
    const forged = { status: 'confirmed', start: START, end: END, conflictsWith: ['forged'] }
    const isForged = (doc: Y.Doc) => JSON.stringify(authorityOf(doc).get('reservation') ?? null).includes('forged')
    let observerSawForged = false
    authorityOf(observer.doc).observe(() => {
      if (isForged(observer.doc)) observerSawForged = true
    })
    authorityOf(sender.doc).set('reservation', forged)
    await until(() => notices.length > 0 && !isForged(sender.doc), 'the forged reservation reverted at the sender')
    expect(notices[0]).toMatchObject({ type: 'rejected', reason: 'authority' })
    await until(
      () => JSON.stringify(authorityOf(sender.doc).toJSON()) === JSON.stringify(authorityOf(observer.doc).toJSON()),
      'sender and observer agree on the authority map',
    )
    expect(observerSawForged).toBe(false)
    expect(JSON.stringify((await owner.request('GET', `/api/records/events/${id}`)).body)).not.toContain('forged')
  })

  it('[T2] a client-written invoice number is reverted', async () => {
    const id = await create('invoices', { status: 'draft' })
    const docName = `acme/invoices/${id}`
    const sender = connect(docName, member, true)
    const notices = captureNotices(sender)
    const observer = connect(docName, owner)
    await Promise.all([sender, observer].map(synced))
    const before = authorityOf(observer.doc).get('number')
    authorityOf(sender.doc).set('number', 'INV-FORGED')
    await until(() => notices.length > 0 && authorityOf(sender.doc).get('number') === before, 'the number reverted at the sender')
    expect(notices[0]).toMatchObject({ reason: 'authority' })
    expect(authorityOf(observer.doc).get('number')).toBe(before)
    expect(JSON.stringify((await owner.request('GET', `/api/records/invoices/${id}`)).body)).not.toContain('INV-FORGED')
  })
})

describe('roles and server-only documents', () => {
  it('[T3] a viewer edit is neither persisted nor broadcast, and the viewer converges back', async () => {
    const id = await create('deals', { title: 'Read only', stage: 'lead', amount: 1 })
    const docName = `acme/deals/${id}`
    const v = connect(docName, viewer, true)
    const notices = captureNotices(v)
    const m = connect(docName, member)
    await Promise.all([v, m].map(synced))
    const seenByMember = watchField(m.doc, 'stage')
    let memberNotes = 0
    notesOf(m.doc).observe(() => memberNotes++)
    const logged = logCount(docName)

    v.doc.transact(() => {
      fieldsOf(v.doc).set('stage', 'won')
      notesOf(v.doc).insert(0, 'viewer text')
    })
    await until(() => notices.length > 0, 'a read-only notice')
    expect(notices[0]).toMatchObject({ type: 'rejected', reason: 'read-only' })
    await until(() => fieldsOf(v.doc).get('stage') === 'lead' && notesOf(v.doc).toString() === '', 'the viewer converged back')
    // The member's edit still reaches the viewer after the round trip: the socket is open.
    notesOf(m.doc).insert(0, 'member text')
    await until(() => notesOf(v.doc).toString() === 'member text', "the member's edit at the viewer")
    expect(seenByMember).toEqual([])
    expect(memberNotes).toBe(1)
    expect(logCount(docName)).toBe(logged + 1)
    expect((await viewer.request('PATCH', `/api/records/deals/${id}`, { stage: 'won' })).status).toBe(403)
    expect((await viewer.request('POST', '/api/records/deals', { title: 'nope' })).status).toBe(403)
  })

  it.each(['acme/index/deals', () => `acme/inbox/${users.member.id}`])(
    '[T4] a client write to a server-only document (%s) is not applied',
    async (nameOrFn) => {
      const docName = typeof nameOrFn === 'string' ? nameOrFn : nameOrFn()
      const writer = connect(docName, member, true)
      const notices = captureNotices(writer)
      await synced(writer)
      const logged = logCount(docName)
      writer.doc.getMap('records').set('forged', { title: 'forged' })
      writer.doc.getMap('jobs').set('forged', { status: 'succeeded' })
      await until(() => notices.length > 0, 'a server-only notice')
      expect(notices[0]).toMatchObject({ reason: 'server-only' })
      await until(
        () => !writer.doc.getMap('records').has('forged') && !writer.doc.getMap('jobs').has('forged'),
        'the writer converged back',
      )
      expect(logCount(docName)).toBe(logged)
      expect(writer.wsconnected).toBe(true)
    },
  )
})

describe('presence identity', () => {
  it('[T5] a client cannot impersonate another user or remove another client’s presence', async () => {
    const id = await create('customers', { name: 'Presence' })
    const docName = `acme/customers/${id}`
    const spoofer = connect(docName, member)
    const victim = connect(docName, owner)
    const watcher = connect(docName, member2)
    await Promise.all([spoofer, victim, watcher].map(synced))
    victim.awareness.setLocalStateField('cursor', 1)
    spoofer.awareness.setLocalState({ user: { id: users.owner.id, name: 'owner of acme', color: '#000' }, cursor: 2 })
    const stateOf = (p: WebsocketProvider, clientID: number) =>
      watcher.awareness.getStates().get(clientID) as { user?: { id: string; name: string } } | undefined
    await until(
      () =>
        stateOf(watcher, spoofer.doc.clientID)?.user !== undefined &&
        (stateOf(watcher, spoofer.doc.clientID) as { cursor?: number }).cursor === 2,
      'the spoofer’s presence at the watcher',
    )
    expect(stateOf(watcher, spoofer.doc.clientID)!.user).toMatchObject({ id: users.member.id, name: 'member of acme' })
    await until(() => stateOf(watcher, victim.doc.clientID)?.user?.id === users.owner.id, 'the victim’s presence at the watcher')

    // A raw socket claims the victim's awareness client id: removal and overwrite are ignored.
    const raw = new RawClient(`${t.wsUrl}/sync/${docName}?token=${member.token}`)
    await raw.opened
    const clock = (victim.awareness.meta.get(victim.doc.clientID)?.clock ?? 0) + 10
    raw.send(awarenessMessage([{ clientID: victim.doc.clientID, clock, json: 'null' }]))
    raw.send(awarenessMessage([{ clientID: victim.doc.clientID, clock: clock + 1, json: JSON.stringify({ cursor: 99 }) }]))
    await raw.settled()
    victim.awareness.setLocalStateField('cursor', 3)
    await until(
      () => (stateOf(watcher, victim.doc.clientID) as { cursor?: number } | undefined)?.cursor === 3,
      'the victim’s next presence update',
    )
    expect(raw.isOpen).toBe(true)
    raw.close()
  })
})
