/**
 * A socket is accepted before its document is loaded (a store may read over the network):
 * the real sync endpoint and registry on real sockets, over the in-memory store, whose loads
 * the test holds, releases or fails.
 * One backend only: nothing here is stored (the sessions' SQLite file is only what the endpoint signs in against).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fieldsOf } from '../shared/docLayout.js'
import { CLOSE, type Limits } from '../shared/protocol.js'
import { textOf } from '../shared/textFields.js'
import { AuthService } from '../server/auth/AuthService.js'
import { SqliteAuthStore } from '../server/auth/SqliteAuthStore.js'
import { resolveDocument } from '../server/documents/documentKinds.js'
import type { AccordRegistry, AccordRoom } from '../server/documents/types.js'
import { MemoryDocStore } from '../server/store/MemoryDocStore.js'
import { type Db, openDatabase } from '../server/store/openDatabase.js'
import { DocRegistry } from '../server/sync/DocRegistry.js'
import { SyncEndpoint } from '../server/sync/SyncEndpoint.js'
import { RawClient, editOf, syncStep1, updateMessage } from './helpers/trust.js'
import { tempDir, until } from './helpers/server.js'

const DOC = 'acme/deals/d1'

interface Endpoint {
  /** The SQLite database of the sessions. */
  db: Db
  store: MemoryDocStore
  registry: AccordRegistry
  endpoint: SyncEndpoint
  /** Contexts reported through onError. */
  errors: string[]
  /** The sync URL of a document for the signed-in member. */
  url(docName: string): string
  close(): Promise<void>
}

let running: Endpoint | null = null
afterEach(async () => {
  await running?.close()
  running = null
})

async function startEndpoint(limits: Partial<Limits> = {}): Promise<Endpoint> {
  const dir = tempDir()
  const db: Db = openDatabase(join(dir, 'accord.db'))
  const auth = new AuthService(new SqliteAuthStore(db))
  await auth.addWorkspace('acme')
  const user = await auth.addUser({ workspace: 'acme', email: 'member@acme.test', password: 'correct horse', role: 'member' })
  const { token } = await auth.createSession(user.id)
  const errors: string[] = []
  const onError = (_error: unknown, context: string) => errors.push(context)
  const store = new MemoryDocStore()
  const registry: AccordRegistry = new DocRegistry(store, { resolve: resolveDocument, unloadGraceMs: 50, onError })
  const endpoint = new SyncEndpoint({ auth, registry, onError, limits })
  const http: Server = createServer()
  http.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head))
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  running = {
    db,
    store,
    registry,
    endpoint,
    errors,
    url: (docName) => `ws://127.0.0.1:${port}/sync/${docName}?token=${token}`,
    close: async () => {
      await endpoint.close()
      await new Promise<void>((resolve) => http.close(() => resolve()))
      await registry.close()
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return running
}

describe('a socket whose document is loading', () => {
  it('[LD1] messages sent before the room is live are handled once it is, in the order they came', async () => {
    const { store, registry, url } = await startEndpoint()
    const loads = store.holdLoads()
    const client = new RawClient(url(DOC))
    await client.opened
    await loads.entered
    // Two edits, the second building on the first: applied the other way round, Yjs would keep
    // the second waiting and take both in one transaction (one logged update).
    const base = new Y.Doc()
    const first = editOf(base, (doc) => {
      textOf(doc, 'title').insert(0, 'Queued')
      fieldsOf(doc).set('stage', 'lead')
    })
    Y.applyUpdate(base, first)
    const second = editOf(base, (doc) => fieldsOf(doc).set('stage', 'won'))
    client.send(syncStep1(new Y.Doc()))
    client.send(updateMessage(first))
    client.send(updateMessage(second))
    await client.settled()
    expect(registry.get(DOC)).toBeUndefined()
    expect(client.received).toEqual([])

    loads.release()
    await until(() => store.logged(DOC).length === 2, 'both edits on disk')
    expect(store.logged(DOC).map((u) => u.changed)).toEqual([['title', 'stage'], ['stage']])
    const room = registry.get(DOC)!
    expect(fieldsOf(room.doc).get('stage')).toBe('won')
    expect(textOf(room.doc, 'title').toString()).toBe('Queued')
    expect(client.isOpen).toBe(true)
  })

  it('[LD2] a socket closed while its document loads leaves nothing behind: no peer in the room, which unloads, and no count against its user', async () => {
    const { store, registry, endpoint, url } = await startEndpoint({ MAX_CONNECTIONS_PER_USER: 1 })
    let loaded: AccordRoom | null = null
    registry.onLoad((room) => {
      if (room.docName === DOC) loaded = room
    })
    const loads = store.holdLoads()
    const gone = new RawClient(url(DOC))
    await gone.opened
    await loads.entered
    gone.send(syncStep1(new Y.Doc()))
    gone.ws.close()
    await gone.closed
    await until(() => endpoint.connectionCount === 0, 'the server saw the socket close')
    loads.release()
    await until(() => (loaded as AccordRoom | null)?.state === 'closed', 'the room nobody joined unloaded')
    expect(registry.get(DOC)).toBeUndefined()

    // The user's one connection is free again.
    const next = new RawClient(url(DOC))
    await next.opened
    await until(() => next.received.length > 0, 'the server sync step 1')
    expect(next.isOpen).toBe(true)
    expect(registry.get(DOC)?.peers.size).toBe(1)
    next.ws.close()
  })

  it('[LD3] a document that cannot be loaded closes its socket with 1011 and is reported', async () => {
    const { store, registry, errors, url } = await startEndpoint()
    const loads = store.holdLoads()
    const client = new RawClient(url(DOC))
    await client.opened
    await loads.entered
    loads.fail(new Error('database down'))
    expect(await client.closed).toBe(CLOSE.internalError.code)
    expect(errors).toEqual(['load'])
    expect(registry.get(DOC)).toBeUndefined()
  })

  it('[LD4] what waits for a loading document is bounded: past MAX_BUFFERED_BYTES the socket is closed with 4429', async () => {
    const { store, url } = await startEndpoint({ MAX_BUFFERED_BYTES: 1000 })
    const loads = store.holdLoads()
    const client = new RawClient(url(DOC))
    await client.opened
    await loads.entered
    const awareness = new Uint8Array(600).fill(1)
    client.send(awareness)
    client.send(awareness)
    expect(await client.closed).toBe(CLOSE.rateLimited.code)
    loads.release()
  })
})

describe('a socket whose session cannot be looked up', () => {
  it('[LD5] a failing session store answers the upgrade, closes the socket with 1011 and is reported, and nothing of the socket is kept', async () => {
    const { db, endpoint, errors, url } = await startEndpoint()
    db.close()
    const client = new RawClient(url(DOC))
    await client.opened
    expect(await client.closed).toBe(CLOSE.internalError.code)
    expect(client.received).toEqual([])
    expect(errors).toEqual(['authenticate'])
    await until(() => endpoint.connectionCount === 0, 'the server let the socket go')
  })
})
