/**
 * The document store on either backend keeps every update across a restart, and a document
 * loaded from it serves every way a client may start. On SQLite, with each of its writers:
 * `auto` (the default: inline while commits are fast, the writer thread while they are
 * slow), always the writer thread, always inline; a document reloaded while its updates are
 * still being written on the writer thread includes them; commits move to the thread when
 * they are slow.
 */
import { resolveDocument } from '../server/documents/documentKinds.js'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import * as decoding from 'lib0/decoding'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'
import * as Y from 'yjs'
import { notesOf } from '../shared/docLayout.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { ThreadedDocStore } from '../server/store/ThreadedDocStore.js'
import { DocRegistry } from '../server/sync/DocRegistry.js'
import { serverOrigin } from '../server/sync/types.js'
import { editOf, RawClient, updateMessage } from './helpers/trust.js'
import { describeBackends, restart, sameDatabase } from './helpers/backends.js'
import { queryStored } from './helpers/stored.js'
import { type TestServer, login, provider, seedWorkspace, startServer, synced, tempDir, until } from './helpers/server.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A database file in a fresh folder, removed after the tests. */
function dbFile(): string {
  const dir = tempDir()
  dirs.push(dir)
  return join(dir, 'accord.db')
}

/** The SQLite writer modes (the event loop or a thread of its own); PostgreSQL has one way of writing. */
const WRITERS = { sqlite: ['auto', 'thread', 'inline'], postgres: [undefined] } as const

describeBackends('the document store', (backend) => {
  for (const writer of WRITERS[backend.kind]) {
    it(`${writer ? `the ${writer} writer ` : ''}persists what two editors type, across a restart`, async () => {
      const first = await startServer(backend.kind === 'sqlite' ? { db: dbFile(), writer } : backend.options())
      const users = await seedWorkspace(first.server)
      const api = await login(first.url, users.member.email, users.member.password)
      const { body } = await api.request('POST', '/api/records/deals', { title: 'Both writers' })
      const docName = `acme/deals/${body.id}`
      const a = provider(first.wsUrl, docName, api.token)
      const b = provider(first.wsUrl, docName, api.token)
      await Promise.all([synced(a), synced(b)])
      for (let i = 0; i < 50; i++) notesOf(i % 2 ? a.doc : b.doc).insert(0, `${i};`)
      await until(
        () =>
          notesOf(a.doc).length === notesOf(b.doc).length &&
          notesOf(a.doc).toString() === notesOf(b.doc).toString() &&
          notesOf(a.doc).length > 0,
        'the editors converge',
      )
      const text = notesOf(a.doc).toString()
      await until(async () => (await api.request('GET', `/api/records/deals/${body.id}`)).body.notes === text, 'the projection follows')
      a.destroy()
      b.destroy()
      const second = await restart(first, {
        options: { writer },
        // The document left memory as one snapshot, so the next load applies a single update.
        async whileStopped() {
          const count = async (table: string) =>
            Number(
              (await queryStored<{ n: number }>(sameDatabase(first), `SELECT COUNT(*) AS n FROM ${table} WHERE doc = ?`, [docName]))[0]!.n,
            )
          expect(await count('doc_updates')).toBe(0)
          expect(await count('doc_snapshots')).toBe(1)
        },
      })
      onTestFinished(() => second.close())
      const token = (await login(second.url, users.member.email, users.member.password)).token
      // The first client (empty document) is sent the stored snapshot as it is; the second,
      // after an edit, the state encoded anew.
      const fresh = provider(second.wsUrl, docName, token, { doc: new Y.Doc() })
      await synced(fresh)
      expect(notesOf(fresh.doc).toString()).toBe(text)
      notesOf(fresh.doc).insert(0, 'after restart;')
      const late = provider(second.wsUrl, docName, token, { doc: new Y.Doc() })
      await synced(late)
      await until(() => notesOf(late.doc).toString() === `after restart;${text}`, 'a later client gets the edit too')
      fresh.destroy()
      late.destroy()
    })
  }

  /**
   * A document loaded from disk is parsed lazily: the first client with an empty document
   * is answered from the stored snapshot, and whatever needs the content parses it first.
   * Every other way a client may start must still work on such a freshly loaded document.
   */
  describe('a document loaded from disk', () => {
    let deals = 0
    /** A deal stored by one server, and a server started again on its database (a workspace of its own). */
    async function storedDeal() {
      const workspace = `loaded${deals++}`
      let running: TestServer | undefined
      onTestFinished(() => running?.close())
      const first = (running = await startServer(backend.options()))
      const users = await seedWorkspace(first.server, workspace)
      const api = await login(first.url, users.member.email, users.member.password)
      const { body } = await api.request('POST', '/api/records/deals', { title: 'Stored' })
      const docName = `${workspace}/deals/${body.id}`
      const editor = provider(first.wsUrl, docName, api.token)
      await synced(editor)
      notesOf(editor.doc).insert(0, 'stored notes;')
      await until(
        async () => (await api.request('GET', `/api/records/deals/${body.id}`)).body.notes === 'stored notes;',
        'the notes are stored',
      )
      editor.disconnect()
      const second = (running = await restart(first))
      const again = await login(second.url, users.member.email, users.member.password)
      return { second, api: again, token: again.token, docName, id: body.id as string, held: editor }
    }

    const isStep1 = (m: Uint8Array) => m[0] === 0 && m[1] === 0

    it('a client that sends nothing still gets the server sync step 1, with the stored state vector', async () => {
      const { second, token, docName, held } = await storedDeal()
      const raw = new RawClient(`${second.wsUrl}/sync/${docName}?token=${token}`)
      await raw.opened
      await until(() => raw.received.some(isStep1), 'the server asks for what the client has')
      const step1 = raw.received.find(isStep1)!
      const vector = Y.decodeStateVector(decoding.readVarUint8Array(decoding.createDecoder(step1.subarray(2))))
      expect(vector).toEqual(Y.decodeStateVector(Y.encodeStateVector(held.doc)))
      raw.close()
      held.destroy()
    })

    it('an edit sent before any sync message builds on the stored state and is kept', async () => {
      const { second, api, token, docName, id, held } = await storedDeal()
      const raw = new RawClient(`${second.wsUrl}/sync/${docName}?token=${token}`)
      await raw.opened
      raw.send(updateMessage(editOf(held.doc, (doc) => notesOf(doc).insert(notesOf(doc).length, 'first message;'))))
      await raw.settled()
      const reader = provider(second.wsUrl, docName, token)
      await synced(reader)
      await until(() => notesOf(reader.doc).toString() === 'stored notes;first message;', 'a reader sees both')
      await until(
        async () => (await api.request('GET', `/api/records/deals/${id}`)).body.notes === 'stored notes;first message;',
        'the record has both',
      )
      raw.close()
      reader.destroy()
      held.destroy()
    })

    it('a client that kept the document and edited offline catches up both ways', async () => {
      const { second, token, docName, held } = await storedDeal()
      notesOf(held.doc).insert(0, 'offline;')
      const back = provider(second.wsUrl, docName, token, { doc: held.doc })
      await synced(back)
      const fresh = provider(second.wsUrl, docName, token)
      await synced(fresh)
      await until(() => notesOf(fresh.doc).toString() === 'offline;stored notes;', 'the offline edit reaches a new client')
      back.destroy()
      fresh.destroy()
    })
  })
})

// SQLite only: the writer thread is SQLite's.
describe('the writer thread', () => {
  it('auto: commits run on the event loop while fast, on the thread while slow, and come back', async () => {
    const file = dbFile()
    // synchronous=NORMAL: the fast case must not depend on this machine's fsync.
    const db = openDatabase(file, { synchronous: 'normal' })
    const store = new ThreadedDocStore(db, file, { synchronous: 'normal' })
    let n = 0
    const write = () =>
      store.append([
        { docName: 'acme/deals/auto', updates: [{ update: Y.encodeStateAsUpdate(new Y.Doc()), author: null, changed: [], at: ++n }] },
      ])
    for (let i = 0; i < 5; i++) await write()
    expect(store.inline).toBe(true)
    // No thread (and its memory) while every commit is fast.
    expect(store.threadStarted).toBe(false)
    // A slow disk, for real: every insert now does some milliseconds of work inside the commit.
    db.exec(`CREATE TRIGGER slow_commit AFTER INSERT ON doc_updates BEGIN
      SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT x FROM c);
    END`)
    for (let i = 0; i < 10 && !store.threadStarted; i++) await write()
    expect(store.threadStarted).toBe(true)
    // Until the thread has opened its connection, commits go on on the event loop.
    const deadline = Date.now() + 20_000
    while (store.inline && Date.now() < deadline) {
      await write()
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    expect(store.inline).toBe(false)
    db.exec('DROP TRIGGER slow_commit')
    for (let i = 0; i < 50 && !store.inline; i++) await write()
    expect(store.inline).toBe(true)
    expect(db.prepare('SELECT COUNT(*) AS n FROM doc_updates').get()).toEqual({ n })
    await store.close()
    db.close()
  })

  it('a writer thread that cannot open the database fails every write, and says so', async () => {
    const file = dbFile()
    const db = openDatabase(file)
    // A path below a regular file: the thread's own connection cannot be opened.
    const store = new ThreadedDocStore(db, join(file, 'nested.db'), { mode: 'thread' })
    const entry = {
      docName: 'acme/deals/x',
      updates: [{ update: Y.encodeStateAsUpdate(new Y.Doc()), author: null, changed: [], at: Date.now() }],
    }
    await expect(store.append([entry])).rejects.toThrow()
    expect(store.failure()).toBeInstanceOf(Error)
    await expect(store.append([entry])).rejects.toThrow()
    await store.close()
    db.close()
  })

  it('a document reloaded while its updates are being written includes them, logged once', async () => {
    const file = dbFile()
    const db = openDatabase(file)
    const registry = new DocRegistry(new ThreadedDocStore(db, file, { mode: 'thread' }), { resolve: resolveDocument })
    const name = 'acme/deals/reloaded'
    const room = await registry.open(name)
    room.doc.transact(() => notesOf(room.doc).insert(0, 'in flight'), serverOrigin('api'))
    // Starts writing the update, and forgets the room before the write is durable.
    registry.onBroken(room)
    expect(room.state).toBe('closed')
    const again = await registry.open(name)
    expect(notesOf(again.doc).toString()).toBe('in flight')
    await registry.flushed()
    const count = db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc = ?')
    expect(count.get(name)).toEqual({ n: 1 })
    await registry.close()
    // It left memory as one snapshot of that state.
    const reopened = openDatabase(file)
    const stored = new Y.Doc()
    for (const update of (await new InlineDocStore(reopened).load(name)).updates) Y.applyUpdate(stored, update)
    expect(notesOf(stored).toString()).toBe('in flight')
    reopened.close()
    db.close()
  })
})
