/**
 * A DocStore held in memory, with the SQLite store's semantics: for tests of the sync
 * layer that need no disk, and for the contract suite every store implementation passes
 * (test/docstore.contract.test.ts). Nothing survives the process.
 *
 * Tests can hold its writes (`hold`) to see what the sync layer does while an append is
 * not yet durable, hold its reads (`holdLoads`) to see what it does while a document loads,
 * and break it (`fail`) as a writer thread that died would.
 */
import type { DocStore, LoadedDoc, PersistEntry, ProjectionRow, SqlValue, StoredUpdate } from './DocStore.js'
import { applyUpsert, storedRow } from './upsertSql.js'

/** One document as stored: its snapshot, and the updates logged since. */
interface StoredDoc {
  snapshot: Uint8Array | null
  log: StoredUpdate[]
  /** Who first wrote with each Yjs client id (kept across compactions). */
  clients: Map<number, string>
}

/** What the store holds; shared by a store and its `reopen`ed successor, as a database file is. */
interface Contents {
  docs: Map<string, StoredDoc>
  /** Projection rows, by table and key (see `rowKey`). */
  rows: Map<string, Record<string, SqlValue>>
}

/** Loads wait here while they are held (see `holdLoads`); `released` rejects if they are failed. */
interface LoadHold {
  released: Promise<void>
  enter: () => void
  /** When a held load reads: as it is made (its answer is on its way), or once released (it runs late). */
  reads: 'at-call' | 'at-release'
}

/** Appends wait here while the store is held (see `hold`). */
interface Hold {
  released: Promise<void>
  release: () => void
  /** Resolves with the entries of the first append that reaches the held store. */
  entered: Promise<PersistEntry[]>
  enter: (entries: PersistEntry[]) => void
}

export class MemoryDocStore implements DocStore {
  /** The append committed last (or refused): the next one commits after it. */
  private tail: Promise<void> = Promise.resolve()
  private holding: Hold | null = null
  /** Loads wait here while they are held (see `holdLoads`). */
  private holdingLoads: LoadHold | null = null
  private failed: Error | null = null
  /** How many times each document was loaded. */
  private readonly loadCounts = new Map<string, number>()
  private closed = false
  private writes = 0

  constructor(private readonly contents: Contents = { docs: new Map(), rows: new Map() }) {}

  /** A new store over what this one holds: what a server restarted on the same database file would see. */
  reopen(): MemoryDocStore {
    return new MemoryDocStore(this.contents)
  }

  /**
   * Reads what is stored and resolves with it; a held load (see `holdLoads`) resolves once
   * released. Copies, so that a caller changing the returned arrays changes nothing stored.
   */
  async load(docName: string): Promise<LoadedDoc> {
    this.loadCounts.set(docName, (this.loadCounts.get(docName) ?? 0) + 1)
    const hold = this.holdingLoads
    if (!hold) return this.read(docName)
    const early = hold.reads === 'at-call' ? this.read(docName) : null
    hold.enter()
    await hold.released
    return early ?? this.read(docName)
  }

  /** How many times `docName` was loaded. */
  loadCount(docName: string): number {
    return this.loadCounts.get(docName) ?? 0
  }

  private read(docName: string): LoadedDoc {
    const doc = this.contents.docs.get(docName)
    if (!doc) return { updates: [], loggedCount: 0, loggedBytes: 0, clientAuthors: [] }
    const updates = doc.log.map((u) => u.update)
    if (doc.snapshot) updates.unshift(doc.snapshot)
    return {
      updates,
      loggedCount: doc.log.length,
      loggedBytes: doc.log.reduce((n, u) => n + u.update.byteLength, 0),
      clientAuthors: [...doc.clients],
    }
  }

  /**
   * Commits after the appends made before it (and after the hold, if any), all entries or
   * none: a batch with anything that is not bytes is refused whole, as the database's
   * NOT NULL and BLOB columns refuse it.
   */
  append(entries: PersistEntry[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'))
    if (this.failed) return Promise.reject(this.failed)
    this.writes++
    const written = this.tail
      .then(() => this.waitForHold(entries))
      .then(() => {
        if (this.failed) throw this.failed
        this.commit(entries)
      })
    const settle = () => {
      this.writes--
    }
    this.tail = written.then(settle, settle)
    return written
  }

  private waitForHold(entries: PersistEntry[]): Promise<void> | undefined {
    if (!this.holding) return undefined
    this.holding.enter(entries)
    return this.holding.released
  }

  private commit(entries: PersistEntry[]): void {
    for (const entry of entries) {
      for (const u of entry.updates)
        if (!(u.update instanceof Uint8Array)) throw new TypeError(`an update of ${entry.docName} is not bytes`)
      if (entry.snapshot !== undefined && !(entry.snapshot instanceof Uint8Array))
        throw new TypeError(`the snapshot of ${entry.docName} is not bytes`)
    }
    for (const entry of entries) {
      const doc: StoredDoc = this.contents.docs.get(entry.docName) ?? { snapshot: null, log: [], clients: new Map() }
      // Copies: the caller may reuse its buffers once the append resolved.
      doc.log.push(...entry.updates.map((u) => ({ ...u, update: u.update.slice(), changed: [...u.changed] })))
      for (const { author, clients } of entry.updates) {
        if (author === null) continue
        for (const client of clients ?? []) if (!doc.clients.has(client)) doc.clients.set(client, author)
      }
      if (entry.snapshot) {
        doc.snapshot = entry.snapshot.slice()
        doc.log = []
      }
      this.contents.docs.set(entry.docName, doc)
      if (entry.projection) this.upsert(entry.projection)
    }
  }

  /** As the SQL stores' upsert (see `applyUpsert`). */
  private upsert(projection: ProjectionRow): void {
    const row = storedRow(projection)
    const key = rowKey(row.table, Object.fromEntries(row.key.map((c) => [c, row.values[c] ?? null])))
    const stored = this.contents.rows.get(key)
    if (stored) applyUpsert(stored, row)
    else this.contents.rows.set(key, { ...row.values })
  }

  /** The projection row of `table` with the key `key`, or undefined. */
  row(table: string, key: Record<string, SqlValue>): Readonly<Record<string, SqlValue>> | undefined {
    return this.contents.rows.get(rowKey(table, key))
  }

  /** The updates logged for a document since its snapshot, with author, changed parts and time. */
  logged(docName: string): readonly StoredUpdate[] {
    return this.contents.docs.get(docName)?.log ?? []
  }

  /** Appends made and not yet committed (or refused). */
  get pendingWrites(): number {
    return this.writes
  }

  /**
   * Holds every append from now on (none commits) until `release` is called; `entered`
   * resolves with the entries of the first append that reaches the hold.
   */
  hold(): { release: () => void; entered: Promise<PersistEntry[]> } {
    if (this.holding) throw new Error('the store is already held')
    let release!: () => void
    let enter!: (entries: PersistEntry[]) => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const entered = new Promise<PersistEntry[]>((resolve) => (enter = resolve))
    const hold: Hold = { released, release, entered, enter }
    this.holding = hold
    return {
      entered,
      release: () => {
        if (this.holding === hold) this.holding = null
        hold.release()
      },
    }
  }

  /**
   * Holds every load from now on until `release` (each resolves) or `fail` (each rejects with
   * `error`) is called. A held load reads what is stored as it is made (`reads: 'at-call'`, the
   * default: its answer is on its way) or once released (`'at-release'`: it runs late).
   * `entered` resolves when the first load is made.
   */
  holdLoads(reads: LoadHold['reads'] = 'at-call'): { release: () => void; fail: (error: Error) => void; entered: Promise<void> } {
    if (this.holdingLoads) throw new Error('the loads are already held')
    let settle!: (error?: Error) => void
    let enter!: () => void
    const released = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())))
    // Failed with no load waiting: not an unhandled rejection.
    released.catch(() => undefined)
    const entered = new Promise<void>((resolve) => (enter = resolve))
    const hold: LoadHold = { released, enter, reads }
    this.holdingLoads = hold
    const end = (error?: Error) => {
      if (this.holdingLoads === hold) this.holdingLoads = null
      settle(error)
    }
    return { entered, release: () => end(), fail: (error) => end(error) }
  }

  /** Breaks the store, as a writer thread that died: appends not yet committed, and every later one, reject with `error`. */
  fail(error: Error): void {
    this.failed ??= error
  }

  /** Waits for the appends in progress (a held store: until released); later ones reject. */
  async close(): Promise<void> {
    this.closed = true
    await this.tail
  }

  failure(): Error | null {
    return this.closed ? null : this.failed
  }
}

/** A row's place in the store: its table and key values, in the order given. */
function rowKey(table: string, key: Record<string, SqlValue>): string {
  return JSON.stringify([table, Object.values(key)])
}
