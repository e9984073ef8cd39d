/**
 * The room and its commit path (Room, DocRegistry) driven directly: peers on recording
 * sockets, the in-memory store, no server. Every wait is for the registry's own flush.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fieldsOf, notesOf, readRecord } from '../shared/docLayout.js'
import { CLOSE } from '../shared/protocol.js'
import { MemoryDocStore } from '../server/store/MemoryDocStore.js'
import { resolveDocument } from '../server/documents/documentKinds.js'
import type { AccordRegistry, AccordRoom } from '../server/documents/types.js'
import type { RecordProjection } from '../server/records/recordProjection.js'
import { type Committable, CommitQueue } from '../server/sync/CommitQueue.js'
import { DocRegistry, PersistError, type RegistryOptions } from '../server/sync/DocRegistry.js'
import type { PendingUpdate } from '../server/sync/Room.js'
import { serverOrigin } from '../server/sync/types.js'
import { type Received, TestClient } from './helpers/room.js'

const DOC = 'acme/deals/d1'

let store: MemoryDocStore
let registry: AccordRegistry
let errors: string[]
let room: AccordRoom
/** The hold a test put on the store, released after it (a failed test must not leave the registry waiting). */
let hold: ReturnType<MemoryDocStore['hold']> | null

/** Holds the store's appends until the test releases them. */
function holdStore(): ReturnType<MemoryDocStore['hold']> {
  hold = store.hold()
  return hold
}

function openRegistry(options: Pick<RegistryOptions<unknown, RecordProjection>, 'compactAfterUpdates'> = {}): void {
  registry = new DocRegistry(store, { resolve: resolveDocument, onError: (_error, context) => errors.push(context), ...options })
}

/** A deal as the REST API would create it, on disk before any client joins. */
async function seedDeal(): Promise<void> {
  room = await registry.open(DOC)
  room.doc.transact(() => {
    fieldsOf(room.doc).set('title', 'Big deal')
    fieldsOf(room.doc).set('stage', 'lead')
  }, serverOrigin('api'))
  await registry.flushed()
}

/** A client that has joined the room and holds its state. */
function joined(role: 'member' | 'viewer', userId?: string): TestClient {
  const client = new TestClient(role, userId)
  client.join(room)
  client.receive()
  expect(fieldsOf(client.doc).get('title')).toBe('Big deal')
  return client
}

const updatesIn = (messages: Received[]) => messages.filter((m) => m.type === 'update' || m.type === 'step2')
const stageOf = (doc: Y.Doc) => fieldsOf(doc).get('stage')

beforeEach(async () => {
  hold = null
  store = new MemoryDocStore()
  errors = []
  openRegistry()
  await seedDeal()
})
afterEach(async () => {
  hold?.release()
  await registry.close()
})

describe('the write path', () => {
  it('[R1] a client update is on disk before any other peer receives it', async () => {
    const a = joined('member', 'a')
    const b = joined('member', 'b')
    const logged = store.logged(DOC).length
    const hold = holdStore()
    a.edit(room, (doc) => fieldsOf(doc).set('stage', 'won'))
    const flushed = registry.flushed()
    const entries = await hold.entered
    expect(entries.map((e) => e.docName)).toEqual([DOC])
    // The append is under way, not durable: nobody has heard of the edit yet.
    expect(b.receive()).toEqual([])
    expect(store.logged(DOC)).toHaveLength(logged)
    hold.release()
    await flushed
    expect(store.logged(DOC)).toHaveLength(logged + 1)
    expect(updatesIn(b.receive())).toHaveLength(1)
    expect(stageOf(b.doc)).toBe('won')
  })

  it('[R2] the sender does not get its own update back', async () => {
    const a = joined('member', 'a')
    const b = joined('member', 'b')
    a.edit(room, (doc) => notesOf(doc).insert(0, 'from a'))
    await registry.flushed()
    expect(a.receive()).toEqual([])
    expect(notesOf(b.doc).toString()).toBe('')
    b.receive()
    expect(notesOf(b.doc).toString()).toBe('from a')
  })

  it('[R3] two senders in one batch each get only what the other wrote', async () => {
    const a = joined('member', 'a')
    const b = joined('member', 'b')
    a.edit(room, (doc) => fieldsOf(doc).set('amount', 10))
    b.edit(room, (doc) => notesOf(doc).insert(0, 'from b'))
    await registry.flushed()
    a.receive()
    b.receive()
    expect(readRecord(a.doc, 'deals')).toEqual(readRecord(room.doc, 'deals'))
    expect(readRecord(b.doc, 'deals')).toEqual(readRecord(room.doc, 'deals'))
  })

  it('[R4] a sync step 2 that reveals state waits until that state is on disk', async () => {
    const a = joined('member', 'a')
    const hold = holdStore()
    a.edit(room, (doc) => fieldsOf(doc).set('stage', 'won'))
    const flushed = registry.flushed()
    await hold.entered
    const late = new TestClient('member', 'late')
    late.join(room)
    // The server's own step 1 goes out at once; its answer to the client's step 1 holds the edit.
    expect(late.receive().map((m) => m.type)).toEqual(['step1'])
    hold.release()
    await flushed
    expect(late.receive().map((m) => m.type)).toContain('step2')
    expect(stageOf(late.doc)).toBe('won')
  })

  it('[R5] an invalid edit is reverted in the same batch as the update: another peer never sees the invalid value', async () => {
    const a = joined('member', 'a')
    const b = joined('member', 'b')
    const seen: unknown[] = []
    fieldsOf(b.doc).observe(() => seen.push(stageOf(b.doc)))
    a.edit(room, (doc) => {
      fieldsOf(doc).set('stage', 'bogus')
      fieldsOf(doc).set('amount', 5)
    })
    await registry.flushed()
    expect(updatesIn(b.receive())).toHaveLength(1)
    expect(seen).toEqual(['lead'])
    expect(fieldsOf(b.doc).get('amount')).toBe(5)
    expect(stageOf(room.doc)).toBe('lead')
    // The sender gets the revert (not its own update) and is told why.
    const toSender = a.receive()
    expect(toSender.filter((m) => m.type === 'notice')).toEqual([
      {
        type: 'notice',
        notice: expect.objectContaining({ type: 'rejected', reason: 'invalid', issues: [expect.objectContaining({ path: 'stage' })] }),
      },
    ])
    expect(stageOf(a.doc)).toBe('lead')
    expect(readRecord(a.doc, 'deals')).toEqual(readRecord(b.doc, 'deals'))
  })

  it('[R6] a viewer update is not applied: the viewer gets a compensation, nothing is stored or broadcast', async () => {
    const viewer = joined('viewer', 'v')
    const b = joined('member', 'b')
    const logged = store.logged(DOC).length
    viewer.edit(room, (doc) => fieldsOf(doc).set('stage', 'won'))
    await registry.flushed()
    expect(stageOf(room.doc)).toBe('lead')
    expect(store.logged(DOC)).toHaveLength(logged)
    expect(store.pendingWrites).toBe(0)
    expect(b.receive()).toEqual([])
    const toViewer = viewer.receive()
    expect(toViewer.map((m) => m.type)).toEqual(['update', 'notice'])
    expect(toViewer[1]).toEqual({ type: 'notice', notice: expect.objectContaining({ reason: 'read-only' }) })
    expect(stageOf(viewer.doc)).toBe('lead')
  })
})

describe('compaction', () => {
  it('[R7] past compactAfterUpdates the log is replaced by a snapshot, and the document reloads unchanged', async () => {
    await registry.close()
    store = new MemoryDocStore()
    openRegistry({ compactAfterUpdates: 5 })
    await seedDeal()
    const a = joined('member', 'a')
    for (let i = 0; i < 5; i++) {
      a.edit(room, (doc) => notesOf(doc).insert(notesOf(doc).length, `${i};`))
      await registry.flushed()
    }
    // The fifth update asked for a compaction in the next batch.
    await registry.flushed()
    const stored = await store.load(DOC)
    expect(stored).toMatchObject({ loggedCount: 0, loggedBytes: 0 })
    expect(stored.updates).toHaveLength(1)
    const before = readRecord(room.doc, 'deals')
    expect(before.notes).toBe('0;1;2;3;4;')
    // Another server on the same data loads the snapshot alone.
    const other = new DocRegistry(store.reopen(), { resolve: resolveDocument })
    try {
      expect(readRecord((await other.open(DOC)).doc, 'deals')).toEqual(before)
    } finally {
      await other.close()
    }
  })
})

describe('a failing store', () => {
  it('[R8] drops the room and closes its sockets with 1011; nobody receives the update', async () => {
    const a = joined('member', 'a')
    const b = joined('member', 'b')
    store.fail(new Error('disk gone'))
    a.edit(room, (doc) => fieldsOf(doc).set('stage', 'won'))
    await expect(registry.flushed()).rejects.toBeInstanceOf(PersistError)
    expect(errors).toEqual(['persist'])
    expect(registry.get(DOC)).toBeUndefined()
    expect(room.state).toBe('closed')
    expect(a.socket.closed?.code).toBe(CLOSE.internalError.code)
    expect(b.socket.closed?.code).toBe(CLOSE.internalError.code)
    expect(b.receive()).toEqual([])
    expect(registry.storeFailure()?.message).toBe('disk gone')
  })
})

describe('loading', () => {
  const COLD = 'acme/deals/d2'

  it('[R9] two concurrent opens of a cold document load it once and get the same room', async () => {
    const loads = store.holdLoads()
    const first = registry.open(COLD)
    const second = registry.open(COLD)
    await loads.entered
    expect(registry.get(COLD)).toBeUndefined()
    loads.release()
    const [a, b] = await Promise.all([first, second])
    expect(a).toBe(b)
    expect(registry.get(COLD)).toBe(a)
    expect(store.loadCount(COLD)).toBe(1)
  })

  it('[R10] writes through use run in the order they were asked for, the first waiting for the load, the second asked the moment the room is live', async () => {
    const order: string[] = []
    const loads = store.holdLoads()
    const first = registry.use(COLD, (r) => {
      order.push('first')
      r.doc.transact(() => fieldsOf(r.doc).set('stage', 'lead'), serverOrigin('api'))
    })
    await loads.entered
    loads.release()
    while (!registry.get(COLD)) await Promise.resolve()
    const second = registry.use(COLD, (r) => {
      order.push('second')
      r.doc.transact(() => fieldsOf(r.doc).set('stage', 'won'), serverOrigin('api'))
    })
    await Promise.all([first, second])
    expect(order).toEqual(['first', 'second'])
    expect(stageOf((await registry.open(COLD)).doc)).toBe('won')
  })

  it('[R11] a document that cannot be read rejects every open waiting for it (a PersistError: try again), and loads on the next one', async () => {
    const loads = store.holdLoads()
    const first = registry.open(COLD)
    const second = registry.use(COLD, () => 'never')
    await loads.entered
    const down = new Error('database down')
    loads.fail(down)
    for (const opening of [first, second]) {
      const error = await opening.then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(PersistError)
      expect((error as Error).cause).toBe(down)
    }
    expect(registry.get(COLD)).toBeUndefined()
    expect((await registry.open(COLD)).state).toBe('live')
    expect(store.loadCount(COLD)).toBe(2)
  })

  it('[R12] a room reloaded while its previous copy was being written holds what was written', async () => {
    const a = joined('member', 'a')
    const held = holdStore()
    a.edit(room, (doc) => fieldsOf(doc).set('stage', 'won'))
    registry.flush()
    await held.entered
    // The last resort: the room is forgotten with its append under way.
    registry.onBroken(room)
    const loads = store.holdLoads()
    const reopening = registry.open(DOC)
    held.release()
    await registry.flushed()
    loads.release()
    const again = await reopening
    expect(again).not.toBe(room)
    expect(stageOf(again.doc)).toBe('won')
  })
})

/** The least a commit queue needs of a document: its state and the updates applied to it, for writing. */
class QueuedDoc implements Committable {
  readonly state = 'live'
  readonly doc = new Y.Doc()
  private pending: PendingUpdate[] = []
  private seq = 0
  private persisted = 0

  constructor(readonly docName: string) {
    this.doc.on('update', (update: Uint8Array, _origin: unknown, _doc: Y.Doc, tr: Y.Transaction) => {
      const clients = tr.afterState.size > tr.beforeState.size ? [this.doc.clientID] : []
      this.pending.push({ update, origin: null, author: 'u1', changed: [], at: 1, seq: ++this.seq, clients })
    })
  }

  takePending(): PendingUpdate[] {
    const taken = this.pending
    this.pending = []
    return taken
  }

  get unpersisted(): number {
    return this.seq - this.persisted
  }

  committed(updates: PendingUpdate[]): void {
    this.persisted = updates.at(-1)?.seq ?? this.persisted
  }
}

describe('loading beside the commit queue', () => {
  for (const reads of ['at-call', 'at-release'] as const) {
    it(`[R13] an append that completes while the document loads is in what loads exactly once (the store reads ${reads})`, async () => {
      const queue = new CommitQueue(store, { onCommitted: () => undefined, onFailed: () => undefined })
      const doc = new QueuedDoc('acme/deals/q1')
      doc.doc.getMap('fields').set('stage', 'won')
      const held = holdStore()
      queue.schedule(doc)
      await held.entered
      const loads = store.holdLoads(reads)
      const loading = queue.load(doc.docName)
      held.release()
      await queue.flushed()
      loads.release()
      const loaded = await loading
      expect(loaded.updates).toHaveLength(1)
      expect(loaded).toMatchObject({ loggedCount: 1, clientAuthors: [[doc.doc.clientID, 'u1']] })
      await queue.close()
    })
  }
})
