/**
 * On SQLite a record's row is computed after its updates are broadcast and written just after
 * them (server/sync/CommitQueue.ts, `projectAfterBroadcast`): the broadcast waits for neither.
 * These tests hold it to what that must not change: the row reflects exactly what is on disk,
 * with its log position; whoever reads rows (REST) finds every committed change; and a crash
 * between an update and its row is repaired at the next start, the version counting every change.
 */
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fieldsOf } from '../shared/docLayout.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { MemoryDocStore } from '../server/store/MemoryDocStore.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { CommitQueue, type Committable } from '../server/sync/CommitQueue.js'
import type { PendingUpdate } from '../server/sync/Room.js'
import { projectRecord } from '../server/records/recordProjection.js'
import { restartSeeded } from './helpers/backends.js'
import { type TestServer, provider, startSeeded, synced, tempDir, until } from './helpers/server.js'

const cleanups: (() => Promise<void> | void)[] = []
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A record document as the queue sees it, which notes what the database held when it was broadcast. */
class RecordDoc implements Committable {
  readonly state = 'live'
  private readonly ydoc = new Y.Doc()
  private pending: PendingUpdate[] = []
  private seq = 0
  private persisted = 0
  /** The row's version, read from the database at each broadcast. */
  readonly versionAtBroadcast: (number | null)[] = []

  constructor(
    readonly docName: string,
    private readonly rowVersion: () => number | null,
    /** Runs at the first read of the state, as a room's stored state is applied (and maybe repaired) when first needed. */
    private firstRead?: (doc: Y.Doc) => void,
  ) {
    this.ydoc.on('update', (update: Uint8Array) => {
      this.pending.push({ update, origin: null, author: 'u1', changed: ['amount'], at: 1000 + this.seq, seq: ++this.seq })
    })
  }

  get doc(): Y.Doc {
    const read = this.firstRead
    this.firstRead = undefined
    read?.(this.ydoc)
    return this.ydoc
  }

  get unpersisted(): number {
    return this.seq - this.persisted
  }

  takePending(): PendingUpdate[] {
    const taken = this.pending
    this.pending = []
    return taken
  }

  committed(updates: PendingUpdate[]): void {
    this.persisted = updates.at(-1)?.seq ?? this.persisted
    // A batch that only writes a row broadcasts nothing.
    if (updates.length > 0) this.versionAtBroadcast.push(this.rowVersion())
  }
}

describe('record rows written after the broadcast (SQLite)', () => {
  it('[PA1] the broadcast comes before the row; the next batch writes it at its log position; flushed() waits for it', async () => {
    const dir = tempDir()
    const db = openDatabase(`${dir}/a.db`)
    cleanups.push(() => {
      db.close()
    })
    const row = () =>
      (db.prepare("SELECT version, log_seq, fields FROM records WHERE id = 'r1'").get() as
        | { version: number; log_seq: number; fields: string }
        | undefined) ?? null
    const doc = new RecordDoc('acme/deals/r1', () => row()?.version ?? null)
    const committed: { projection: unknown; projected: number }[] = []
    const queue = new CommitQueue<RecordDoc>(new InlineDocStore(db), {
      projectAfterBroadcast: true,
      project: (d, updates) => projectRecord({ workspace: 'acme', collection: 'deals', id: 'r1' }, d.doc, updates),
      onCommitted: (_d, _updates, projection, _log, projected) => committed.push({ projection, projected: projected.length }),
      onFailed: () => undefined,
    })
    fieldsOf(doc.doc).set('title', 'Deal')
    queue.schedule(doc)
    fieldsOf(doc.doc).set('amount', 5)
    queue.schedule(doc)
    await queue.flushed()
    // Broadcast with no row yet; the row came with the next write and says where the log was.
    expect(doc.versionAtBroadcast).toEqual([null])
    const maxSeq = () => (db.prepare('SELECT MAX(seq) AS seq FROM doc_updates').get() as { seq: number }).seq
    expect(row()).toMatchObject({ version: 2, log_seq: maxSeq(), fields: JSON.stringify({ title: 'Deal', amount: 5 }) })
    expect(committed).toEqual([{ projection: expect.objectContaining({ fields: { title: 'Deal', amount: 5 } }), projected: 2 }])

    fieldsOf(doc.doc).set('amount', 6)
    queue.schedule(doc)
    await queue.flushed()
    expect(doc.versionAtBroadcast).toEqual([null, 2])
    expect(row()).toMatchObject({ version: 3, log_seq: maxSeq() })
    expect(queue.projectionPending(doc)).toBe(false)
  })

  it('[PA2] an edit applied while a batch is broadcast: that batch reports no projection, the next computes it before its write, covering both', async () => {
    const dir = tempDir()
    const db = openDatabase(`${dir}/a.db`)
    cleanups.push(() => {
      db.close()
    })
    const reported: { projection: boolean; projected: number }[] = []
    const doc = new RecordDoc('acme/deals/r2', () => null)
    const queue = new CommitQueue<RecordDoc>(new InlineDocStore(db), {
      projectAfterBroadcast: true,
      project: (d, updates) => projectRecord({ workspace: 'acme', collection: 'deals', id: 'r2' }, d.doc, updates),
      onCommitted: (_d, _updates, projection, _log, projected) =>
        reported.push({ projection: projection !== undefined, projected: projected.length }),
      onFailed: () => undefined,
    })
    // The first broadcast applies another edit: memory is then ahead of the disk, and a
    // projection computed from it would show what is not written yet.
    const broadcast = doc.committed.bind(doc)
    let first = true
    doc.committed = (updates) => {
      broadcast(updates)
      if (!first) return
      first = false
      fieldsOf(doc.doc).set('stage', 'won')
      queue.schedule(doc)
    }
    fieldsOf(doc.doc).set('title', 'Deal')
    queue.schedule(doc)
    await queue.flushed()
    await queue.projectionsWritten()
    const row = db.prepare("SELECT version, fields FROM records WHERE id = 'r2'").get() as { version: number; fields: string }
    expect(JSON.parse(row.fields)).toEqual({ title: 'Deal', stage: 'won' })
    expect(row.version).toBe(2)
    expect(reported).toEqual([
      { projection: false, projected: 0 },
      { projection: true, projected: 2 },
    ])
  })

  it('[PA6] a document whose first read changes it (a stored record repaired as it loads), scheduled with nothing pending: that batch writes the change; one that cannot be read is dropped, the others written', async () => {
    const dir = tempDir()
    const db = openDatabase(`${dir}/a.db`)
    cleanups.push(() => {
      db.close()
    })
    const store = new InlineDocStore(db)
    const failed: string[] = []
    const errors: string[] = []
    const queue: CommitQueue<RecordDoc> = new CommitQueue<RecordDoc>(store, {
      projectAfterBroadcast: true,
      project: (d, updates) => projectRecord({ workspace: 'acme', collection: 'deals', id: d.docName.split('/')[2]! }, d.doc, updates),
      onCommitted: () => undefined,
      onFailed: (d) => failed.push(d.docName),
      onError: (error, context) => errors.push(`${context}: ${(error as Error).message}`),
    })
    // As a room does: a change to the document schedules its write.
    const repaired = new RecordDoc(
      'acme/deals/r6',
      () => null,
      (d) => {
        fieldsOf(d).set('title', 'Repaired')
        queue.schedule(repaired)
      },
    )
    const broken = new RecordDoc(
      'acme/deals/r7',
      () => null,
      () => {
        // As a room does: it is dropped, and what else is pending is written at once.
        queue.flushNow()
        throw new Error('stored state that does not parse')
      },
    )
    const other = new RecordDoc('acme/deals/r8', () => null)
    // Its row is projected again (a start found it behind the log): the first read of its state.
    queue.reproject(repaired, [{ author: null, at: 1 }])
    queue.reproject(broken, [{ author: null, at: 1 }])
    fieldsOf(other.doc).set('title', 'Other')
    queue.schedule(other)
    await queue.flushed()
    await queue.projectionsWritten()

    expect(repaired.unpersisted).toBe(0)
    const stored = new Y.Doc()
    for (const update of (await store.load('acme/deals/r6')).updates) Y.applyUpdate(stored, update)
    expect(fieldsOf(stored).get('title')).toBe('Repaired')
    const rows = db.prepare('SELECT id, fields FROM records ORDER BY id').all() as { id: string; fields: string }[]
    expect(rows).toEqual([
      { id: 'r6', fields: JSON.stringify({ title: 'Repaired' }) },
      { id: 'r8', fields: JSON.stringify({ title: 'Other' }) },
    ])
    expect(queue.projectionPending(broken)).toBe(false)
    // Dropped from memory and told, as any document whose state cannot be written.
    expect(failed).toEqual(['acme/deals/r7'])
    expect(errors).toEqual(['preparing a commit: stored state that does not parse'])
  })
})

describe('waiting for rows', () => {
  it('[PA5] after a broadcast, readers wait (`projectionsWritten`) until the row, written by its own batch, is on disk', async () => {
    const store = new MemoryDocStore()
    const doc = new RecordDoc('acme/deals/r5', () => null)
    const queue = new CommitQueue<RecordDoc>(store, {
      projectAfterBroadcast: true,
      project: (d, updates) => projectRecord({ workspace: 'acme', collection: 'deals', id: 'r5' }, d.doc, updates),
      onCommitted: () => undefined,
      onFailed: () => undefined,
    })
    expect(await Promise.race([queue.projectionsWritten().then(() => 'at once'), sleep(50).then(() => 'waited')])).toBe('at once')
    // The row's write is held from the broadcast on.
    let held: ReturnType<MemoryDocStore['hold']> | undefined
    const broadcast = doc.committed.bind(doc)
    doc.committed = (updates) => {
      broadcast(updates)
      held ??= store.hold()
    }
    fieldsOf(doc.doc).set('title', 'Held')
    queue.schedule(doc)
    await until(() => held !== undefined, 'broadcast')
    let written = false
    const reading = queue.projectionsWritten().then(() => {
      written = true
    })
    const [entry] = await held!.entered
    expect(entry).toMatchObject({ docName: 'acme/deals/r5', updates: [], projectionBefore: true })
    await sleep(50)
    expect(written).toBe(false)
    expect(store.row('records', { workspace: 'acme', collection: 'deals', id: 'r5' })).toBeUndefined()
    held!.release()
    await reading
    expect(store.row('records', { workspace: 'acme', collection: 'deals', id: 'r5' })).toMatchObject({
      fields: JSON.stringify({ title: 'Held' }),
    })
  })
})

describe('a record server on SQLite', () => {
  let t: TestServer | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('[PA3] a REST read made as soon as another client has an edit finds it (commits on the writer thread, rows later still)', async () => {
    const seeded = await startSeeded(['owner', 'member'], { writer: 'thread' })
    t = seeded.t
    const { owner, member } = seeded.api
    const created = await owner.request('POST', '/api/records/deals', { title: 'Read after', amount: 1, stage: 'lead' })
    const docName = `acme/deals/${created.body.id as string}`
    const writer = provider(t.wsUrl, docName, owner.token)
    const watcher = provider(t.wsUrl, docName, member.token)
    cleanups.push(() => {
      writer.destroy()
      watcher.destroy()
    })
    await Promise.all([synced(writer), synced(watcher)])
    for (let amount = 2; amount <= 30; amount++) {
      fieldsOf(writer.doc).set('amount', amount)
      await until(() => fieldsOf(watcher.doc).get('amount') === amount, `the watcher has ${amount}`, 5000)
      const read = await member.request('GET', `/api/records/deals/${created.body.id as string}`)
      expect(read.body.amount).toBe(amount)
    }
  })

  it('[PA4] an update on disk past its row (a crash between the two) is projected at the next start, its version counting it', async () => {
    const seeded = await startSeeded(['owner'])
    t = seeded.t
    const { owner } = seeded.api
    const created = await owner.request('POST', '/api/records/deals', { title: 'Crashed', amount: 1, stage: 'lead' })
    const id = created.body.id as string
    const before = (await owner.request('GET', `/api/records/deals/${id}`)).body
    // Stopped, the log compacted; then an update appended as a commit would, with no row after it.
    const appendWithoutRow = async () => {
      const db = new Database(t!.dbFile)
      try {
        const doc = new Y.Doc()
        const stored = db.prepare('SELECT data FROM doc_snapshots WHERE doc = ?').get(`acme/deals/${id}`) as { data: Buffer }
        Y.applyUpdate(doc, stored.data)
        const state = Y.encodeStateVector(doc)
        fieldsOf(doc).set('amount', 42)
        const update = Y.encodeStateAsUpdate(doc, state)
        await new InlineDocStore(db).append([
          { docName: `acme/deals/${id}`, updates: [{ update, author: seeded.users.owner.id, changed: ['amount'], at: 1_700_000_000_000 }] },
        ])
      } finally {
        db.close()
      }
    }
    ;({ t } = await restartSeeded(t, seeded.users, ['owner'], { whileStopped: appendWithoutRow }))
    const again = await (await import('./helpers/server.js')).login(t.url, seeded.users.owner.email, seeded.users.owner.password)
    const after = (await again.request('GET', `/api/records/deals/${id}`)).body
    expect(after).toMatchObject({ amount: 42, version: before.version + 1, updatedAt: new Date(1_700_000_000_000).toISOString() })
  })
})
