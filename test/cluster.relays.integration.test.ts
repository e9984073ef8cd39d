/**
 * Relays (docs/cluster.md, "Relays"): a client connected to a member that does not own its
 * document edits it through the owner. Real servers as members in this process on ephemeral
 * ports, one fresh PostgreSQL database, the shared Redis, stock y-websocket providers.
 */
import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import type { RejectedNotice } from '../shared/protocol.js'
import { fieldsOf, notesOf } from '../shared/docLayout.js'
import { textOf } from '../shared/textFields.js'
import { SHORT, clusterServers } from './helpers/clusterServers.js'
import { skipPg } from './helpers/pg.js'
import { createClient } from 'redis'
import { decodeRelaysMessage } from '../server/cluster/busMessages.js'
import { REDIS_URL, skipPrivateRedis, skipRedis, startPrivateRedis } from './helpers/redis.js'
import { type Api, type TestServer, login, provider, synced, until } from './helpers/server.js'
import { captureNotices, closeCodes } from './helpers/trust.js'

describe.skipIf(skipPg || skipRedis)('relays: clients on any member edit a document another member owns', () => {
  const cluster = clusterServers()
  const member = (node: string) => cluster.member(node)

  function connect(t: TestServer, docName: string, token: string): WebsocketProvider {
    const p = provider(t.wsUrl, docName, token, { params: { notices: '1' } })
    cluster.track(p)
    return p
  }

  async function newDeal(api: Api): Promise<string> {
    const res = await api.request('POST', '/api/records/deals', { title: 'Deal', amount: 1, stage: 'lead' })
    expect(res.status).toBe(201)
    return `acme/deals/${res.body.id as string}`
  }

  /** Members a, b (and c), a deal, and the owner's client on `a`, synced: `a` owns the deal. */
  async function ownedByA(count = 2) {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].slice(0, count).map((node) => member(node)))
    const owner = await login(a!.url, cluster.users.owner.email, cluster.users.owner.password)
    const docName = await newDeal(owner)
    const onA = connect(a!, docName, owner.token)
    await synced(onA)
    expect(a!.server.registry.get(docName)).toBeDefined()
    return { a: a!, b: b!, c, owner, docName, onA }
  }

  /** Members a and b, and a deal created through a that a then unloaded: nobody owns it. */
  async function unownedDeal() {
    const a = await member('a')
    const b = await member('b')
    const owner = await login(a.url, cluster.users.owner.email, cluster.users.owner.password)
    const docName = await newDeal(owner)
    await until(() => a.server.registry.get(docName) === undefined, 'the deal unloaded from a')
    return { a, b, owner, docName }
  }

  const ownerOf = async (doc: string) => (await cluster.pool.query('SELECT owner FROM doc_owners WHERE doc = $1', [doc])).rows[0]?.owner
  const stored = (docName: string) => cluster.stored(docName)
  const count = (text: string, marker: string) => text.split(marker).length - 1

  it('[RL1] clients on three members co-edit a record owned by one: all converge, every marker is in PostgreSQL exactly once', async () => {
    const { a, b, c, owner, docName, onA } = await ownedByA(3)
    const member2 = await login(b.url, cluster.users.member.email, cluster.users.member.password)
    const onB = connect(b, docName, member2.token)
    const onC = connect(c!, docName, owner.token)
    await Promise.all([synced(onB), synced(onC)])
    // Only the owner loaded it; the others relay.
    expect(b.server.registry.get(docName)).toBeUndefined()
    expect(c!.server.registry.get(docName)).toBeUndefined()
    expect(await ownerOf(docName)).toBe(a.server.cluster!.id)
    const clients = [onA, onB, onC]
    const markers: string[] = []
    for (let i = 0; i < 15; i++) {
      clients.forEach((p, k) => {
        const marker = `<${'abc'[k]}${i}>`
        markers.push(marker)
        const notes = notesOf(p.doc)
        notes.insert(i % 2 === 0 ? 0 : notes.length, marker)
      })
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const text = () => notesOf(onA.doc).toString()
    await until(
      () => clients.every((p) => notesOf(p.doc).toString() === text()) && markers.every((m) => text().includes(m)),
      'the clients converge',
    )
    // Presence too, each state stamped with the identity its member authenticated. (A state at
    // clock 0, a provider's initial one, is ignored by y-protocols until renewed.)
    for (const p of clients) p.awareness.setLocalStateField('cursor', 1)
    const stateOf = (p: WebsocketProvider, of: WebsocketProvider) => p.awareness.getStates().get(of.awareness.clientID)
    await until(
      () =>
        stateOf(onA, onB)?.user?.id === cluster.users.member.id &&
        stateOf(onB, onA)?.user?.id === cluster.users.owner.id &&
        stateOf(onC, onB) !== undefined,
      'presence across members',
    )
    await a.server.registry.flushed()
    const inPg = notesOf(await stored(docName)).toString()
    expect(inPg).toBe(text())
    for (const marker of markers) expect(count(inPg, marker)).toBe(1)
    expect(b.server.registry.get(docName)).toBeUndefined()
  })

  it('[RL9] twenty clients spread over three members type at once: all converge on what the log replays to, every marker exactly once', async () => {
    const { a, b, c, owner, docName, onA } = await ownedByA(3)
    const members = [a, b, c!]
    const clients = [onA, ...Array.from({ length: 19 }, (_, k) => connect(members[(k + 1) % 3]!, docName, owner.token))]
    await Promise.all(clients.map(synced))
    const markers: string[] = []
    for (let i = 0; i < 10; i++) {
      clients.forEach((p, k) => {
        const marker = `<${k}.${i}>`
        markers.push(marker)
        const notes = notesOf(p.doc)
        notes.insert((k + i) % 2 === 0 ? 0 : notes.length, marker)
      })
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await until(async () => {
      const text = notesOf(await stored(docName)).toString()
      return markers.every((m) => count(text, m) === 1)
    }, 'every marker in PostgreSQL exactly once')
    const replay = await stored(docName)
    const vector = Buffer.from(Y.encodeStateVector(replay)).toString('hex')
    await until(
      () =>
        clients.every(
          (p) =>
            notesOf(p.doc).toString() === notesOf(replay).toString() && Buffer.from(Y.encodeStateVector(p.doc)).toString('hex') === vector,
        ),
      'every client holds what the log replays to',
    )
    expect(b.server.registry.get(docName)).toBeUndefined()
    expect(c!.server.registry.get(docName)).toBeUndefined()
  })

  it('[RL2] an invalid edit through a relay is reverted by the owner for everyone; the sender is told, its socket kept', async () => {
    const { b, docName, onA } = await ownedByA()
    const member2 = await login(b.url, cluster.users.member.email, cluster.users.member.password)
    const onB = connect(b, docName, member2.token)
    const notices = captureNotices(onB)
    const closes = closeCodes(onB)
    await synced(onB)
    fieldsOf(onB.doc).set('stage', 'bogus')
    await until(
      () => notices.some((n) => n.type === 'rejected' && (n as RejectedNotice).issues.some((i) => i.path === 'stage')),
      'the sender told',
    )
    await until(() => fieldsOf(onB.doc).get('stage') === 'lead', 'reverted for the sender')
    expect(fieldsOf(onA.doc).get('stage')).toBe('lead')
    expect(fieldsOf(await stored(docName)).get('stage')).toBe('lead')
    // The socket stays open and the next edit commits.
    fieldsOf(onB.doc).set('stage', 'won')
    await until(() => fieldsOf(onA.doc).get('stage') === 'won', 'the next edit reaches the owner')
    expect(closes).toEqual([])
  })

  it('[RL3] a viewer connected through a relay cannot write', async () => {
    const { b, docName, onA } = await ownedByA()
    const viewer = await login(b.url, cluster.users.viewer.email, cluster.users.viewer.password)
    const onB = connect(b, docName, viewer.token)
    const notices = captureNotices(onB)
    await synced(onB)
    notesOf(onB.doc).insert(0, 'VIEWER')
    textOf(onB.doc, 'title').insert(0, 'Viewer ')
    await until(() => notices.some((n) => n.type === 'rejected' && n.reason === 'read-only'), 'the viewer told')
    await until(() => notesOf(onB.doc).toString() === '' && textOf(onB.doc, 'title').toString() === 'Deal', 'taken back')
    // A later edit of the owner still reaches the viewer; nothing of the viewer's is anywhere.
    notesOf(onA.doc).insert(0, 'owner')
    await until(() => notesOf(onB.doc).toString() === 'owner', 'the owner edit reaches the viewer')
    const inPg = await stored(docName)
    expect(notesOf(inPg).toString()).not.toContain('VIEWER')
    expect(textOf(inPg, 'title').toString()).toBe('Deal')
    expect(notesOf(onA.doc).toString()).toBe('owner')
  })

  it('[RL4] a document whose owner let go while a client waited on a relay is claimed by that member', async () => {
    const { a, b, owner, docName } = await unownedDeal()
    // a holds the claim without serving the document: b's messages to the owner reach no one,
    // and b's claims are refused while a's lease is live.
    const claimed = await a.server.cluster!.membership.claim(docName)
    expect(claimed.ok).toBe(true)
    const onB = connect(b, docName, owner.token)
    const closes = closeCodes(onB)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(b.server.registry.get(docName)).toBeUndefined()
    await a.server.cluster!.membership.release(docName)
    await synced(onB)
    await until(() => b.server.registry.get(docName) !== undefined, 'b loads the document')
    expect(await ownerOf(docName)).toBe(b.server.cluster!.id)
    notesOf(onB.doc).insert(0, 'claimed by b')
    await until(async () => notesOf(await stored(docName)).toString() === 'claimed by b', 'b commits')
    expect(textOf(onB.doc, 'title').toString()).toBe('Deal')
    // One socket throughout: relayed, then served by the room.
    expect(closes).toEqual([])
  })

  it('[RL6] the owner drops the document while a relayed client types: its member takes the document over, nothing typed is lost', async () => {
    const { a, b, owner, docName, onA } = await ownedByA()
    const onB = connect(b, docName, owner.token)
    await synced(onB)
    onA.destroy()
    const markers: string[] = []
    const type = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        markers.push(`<${i}>`)
        notesOf(onB.doc).insert(notesOf(onB.doc).length, `<${i}>`)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    await type(0, 10)
    // As when a fenced commit fails or another member claimed it: dropped, its sockets closed.
    a.server.registry.lost(docName)
    // The owner closes the client at its relay (1011: it reconnects), unless a message of the
    // client finds no owner first (the relay hands it to its member, which claims the document).
    await type(10, 20)
    await until(() => b.server.registry.get(docName) !== undefined, 'b takes the document over')
    await type(20, 30)
    await until(async () => {
      const text = notesOf(await stored(docName)).toString()
      return markers.every((m) => count(text, m) === 1)
    }, 'every marker committed once')
    expect(await ownerOf(docName)).toBe(b.server.cluster!.id)
  })

  /** As `ownedByA`, with a client on b relayed to a, once it joined a's room. */
  async function relayedToA() {
    const owned = await ownedByA()
    const { a, b, owner, docName } = owned
    const onB = connect(b, docName, owner.token)
    await synced(onB)
    const room = a.server.registry.get(docName)!
    const relayedPeers = () => [...room.peers].filter((peer) => peer.relayed).length
    await until(() => relayedPeers() === 1, "the relayed client joined the owner's room")
    return { ...owned, onB, relayedPeers }
  }

  it("[RL7] a relay gone without a word: its clients leave the owner's room at the next message the owner sends them", async () => {
    const { b, onA, relayedPeers } = await relayedToA()
    // As if b had crashed: off Redis without a `left`.
    await b.server.cluster!.bus.close()
    expect(relayedPeers()).toBe(1)
    onA.awareness.setLocalStateField('cursor', 2)
    await until(() => relayedPeers() === 0, "the relay's client removed")
  })

  it("[RL9] a relay gone without a word, its clients sent nothing: the owner removes them once the relay's lease ended", async () => {
    const { b, relayedPeers } = await relayedToA()
    // As if b had died: off Redis, its lease gone, without a `left`; the owner sends it nothing.
    await b.server.cluster!.bus.close()
    await b.server.cluster!.membership.stop()
    await until(() => relayedPeers() === 0, "the dead relay's client removed", 5000)
  })

  it('[RL10] the owner gone without a word while a relayed client sends nothing: its relay claims the document and serves the client on the same socket', async () => {
    const { a, b, docName, onB } = await relayedToA()
    const closes = closeCodes(onB)
    // From now on the client sends nothing (nothing of it can reveal that the owner is gone).
    await new Promise((resolve) => setTimeout(resolve, 500))
    const ws = onB.ws!
    const send = ws.send.bind(ws)
    ws.send = () => {}
    // As if a had died: off Redis, and its claim gone (as when its lease ends).
    await a.server.cluster!.bus.close()
    await a.server.cluster!.membership.stop()
    await until(() => b.server.registry.get(docName) !== undefined, 'b claims and loads the document', 5000)
    ws.send = send
    expect(await ownerOf(docName)).toBe(b.server.cluster!.id)
    notesOf(onB.doc).insert(0, 'after the owner died')
    await until(async () => notesOf(await stored(docName)).toString() === 'after the owner died', 'b commits')
    expect(closes).toEqual([])
  })

  it('[RL11] the owner announces the head of a document it committed after the commit (the series: HN1, HN2)', async () => {
    const { a, docName, onA } = await ownedByA(1)
    const heads: number[] = []
    const broadcasts: number[] = []
    const listener = createClient({ url: REDIS_URL })
    await listener.connect()
    try {
      await listener.subscribe(
        `${cluster.prefix}:relays:${docName}`,
        (payload) => {
          const message = decodeRelaysMessage(payload)
          if (message.kind === 'owned') return
          if (message.updates) broadcasts.push(message.last)
          else heads.push(message.last)
        },
        true,
      )
      notesOf(onA.doc).insert(0, 'x')
      await until(() => broadcasts.length === 1, 'the commit broadcast')
      // (Heads of the commit that created the deal may come first.)
      const ofTheEdit = () => heads.filter((last) => last === broadcasts[0]).length
      await until(() => ofTheEdit() >= 1, 'the head announced')
      expect(Math.max(...heads)).toBe(broadcasts[0])
      expect(a.server.registry.get(docName)).toBeDefined()
    } finally {
      await listener.close()
    }
  })

  it.skipIf(skipPrivateRedis)(
    '[RL8] with Redis down, a member still loads the documents it claims and serves its own sockets',
    async () => {
      const redis = await startPrivateRedis()
      try {
        const a = await cluster.member('alone', SHORT, redis.url)
        const owner = await login(a.url, cluster.users.owner.email, cluster.users.owner.password)
        await redis.kill()
        // Loading waits for the owner channel's subscription a second at most, not until Redis is back.
        const docName = await newDeal(owner)
        const onA = connect(a, docName, owner.token)
        await synced(onA)
        notesOf(onA.doc).insert(0, 'without redis')
        await until(async () => notesOf(await stored(docName)).toString() === 'without redis', 'committed')
      } finally {
        await redis.kill()
      }
    },
  )

  it('[RL5] a document nobody owns, opened first through a member, is claimed and loaded there', async () => {
    const { b, owner, docName } = await unownedDeal()
    const onB = connect(b, docName, owner.token)
    await synced(onB)
    expect(b.server.registry.get(docName)).toBeDefined()
    expect(await ownerOf(docName)).toBe(b.server.cluster!.id)
    expect(textOf(onB.doc, 'title').toString()).toBe('Deal')
  })
})
