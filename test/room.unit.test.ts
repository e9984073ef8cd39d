/**
 * The room and its commit path (Room, DocRegistry) driven directly: peers on recording
 * sockets, the in-memory store, no server. Every wait is for the registry's own flush.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { fieldsOf, notesOf, readRecord } from '../shared/docLayout.js'
import { CLOSE } from '../shared/protocol.js'
import { MemoryDocStore } from '../server/store/MemoryDocStore.js'
import { resolveDocument } from '../server/documents/documentKinds.js'
import type { AccordRegistry, AccordRoom } from '../server/documents/types.js'
import type { RecordProjection } from '../server/records/recordProjection.js'
import { DocRegistry, PersistError, type RegistryOptions } from '../server/sync/DocRegistry.js'
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
