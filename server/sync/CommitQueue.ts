/**
 * Group commit: the one place where documents' updates go to disk, before anyone sees them.
 *
 * A batch takes everything applied to every dirty document up to the end of the event-loop
 * turn that starts it, and is written in one `DocStore.append` (one transaction). One batch
 * is written at a time; what arrives meanwhile goes into the next one, started as soon as
 * the previous one is durable. Only then is each document's share handed back to it
 * (`Committable.committed`: broadcast, held replies released) and to `onCommitted` (the
 * after-commit effects).
 *
 * The queue owns each document's log counters (updates and bytes logged since its last
 * snapshot) and decides when a log is compacted: a due compaction rides along with the
 * document's next batch, as a snapshot of exactly the state that batch leaves.
 *
 * Projections (`project`) are computed before the write and stored in the same transaction,
 * or, with `projectAfterBroadcast`, computed right after the broadcast from the state just
 * committed and written by the document's next batch, which starts at once: the broadcast no
 * longer waits for them, nor the commit for their rows. Each row then says which log position
 * it reflects (`ProjectionRow.logColumn`), so that a restart after a crash between the two
 * writes finds and rewrites the rows left behind. Whoever reads rows waits for those due
 * (`projectionsWritten`), and so does `flushed`.
 */
import * as Y from 'yjs'
import type { SyncMetrics } from '../metrics/Metrics.js'
import type { DocStore, LoadedDoc, PersistEntry, ProjectionRow } from '../store/DocStore.js'
import type { PendingUpdate } from './Room.js'

/** What the queue needs of a document in memory (a Room). */
export interface Committable {
  readonly docName: string
  readonly state: 'live' | 'closed'
  /** The state in memory, with everything applied. */
  readonly doc: Y.Doc
  /** Updates applied and not yet on disk (pending, or being written). */
  readonly unpersisted: number
  /** Takes the updates applied since the last call, for writing. */
  takePending(): PendingUpdate[]
  /** `updates` (taken earlier, in order) are on disk: broadcast them and release what waited for them. */
  committed(updates: PendingUpdate[]): void
}

/** What a document kind stores beside its updates, in the same transaction (see `ProjectionRow`). */
export interface Projected {
  readonly row: ProjectionRow
}

export interface CommitQueueOptions<D extends Committable, P extends Projected> {
  /** Compact a document's log into a snapshot past this many updates. @default 500 */
  compactAfterUpdates?: number
  /** ... or past this many bytes of log. @default 1 MiB */
  compactAfterBytes?: number
  /** What to store beside a document's updates (the projection of its new state), if anything; `updates` are the ones it covers. */
  project?: (doc: D, updates: readonly ProjectedUpdate[]) => P | undefined
  /** Compute projections after the broadcast and write them with the next batch (see above). @default false */
  projectAfterBroadcast?: boolean
  /**
   * A document's updates are on disk and broadcast (the after-commit effects run here), with
   * their log numbers if the store gave them, and the projection of the state they leave when
   * it is known by now (with `projectAfterBroadcast`, not when more updates were applied
   * meanwhile: it comes with a later call, `projected` then naming every update it covers).
   */
  onCommitted: (
    doc: D,
    updates: PendingUpdate[],
    projection: P | undefined,
    log: { first: number; last: number } | undefined,
    projected: readonly PendingUpdate[],
  ) => void
  /** A document's updates could not be written; it must leave memory (its clients resend them). */
  onFailed: (doc: D) => void
  onError?: (error: unknown, context: string) => void
  metrics?: SyncMetrics
}

interface Waiter {
  resolve: () => void
  reject: (error: Error) => void
}

/** What a projection takes of the updates it covers: their number, the last one's time and author. */
export type ProjectedUpdate = Pick<PendingUpdate, 'author' | 'at'>

/** The document could not be persisted; it was dropped from memory. Trying again later may succeed. */
export class PersistError extends Error {}

/**
 * The document's stored state could not be read (the store is unreachable): as with a failed
 * write, nothing of it is in memory, and opening it again later may succeed.
 */
export class LoadError extends PersistError {}

/** What the queue knows of a document's stored log. */
interface LogState {
  count: number
  bytes: number
  /** The document's next batch replaces its log with a snapshot. */
  compactDue: boolean
}

/** One document's share of a write. */
interface Batch<D, P> {
  doc: D
  updates: PendingUpdate[]
  /** Computed before the write, of the state it leaves (covering `projected`). */
  projection: P | undefined
  /** The committed updates `projection` covers that no after-commit call has had a projection for. */
  projected: PendingUpdate[]
  /** The row written, if any: `projection`'s, or one computed after an earlier batch. */
  row: ProjectionRow | undefined
  /** `row` reflects the state before this batch's updates. */
  rowBefore: boolean
  /** The projection was computed before the write (else after the broadcast, `projectAfterBroadcast`). */
  before: boolean
  /** The document's state, replacing its log (compaction). */
  snapshot: Uint8Array | undefined
}

export class CommitQueue<D extends Committable, P extends Projected = Projected> {
  private readonly logs = new Map<D, LogState>()
  private readonly dirty = new Set<D>()
  /** Waiting for the batch after the one being written (everything applied so far). */
  private waiters: Waiter[] = []
  /** Waiters whose updates are on disk, waiting for the rows computed after their broadcast (the next batch writes them). */
  private carried: Waiter[] = []
  private scheduled = false
  /** A batch is being put together (its documents read and their updates taken). */
  private building = false
  /** The batch being written, if any. */
  private writing: Promise<void> | null = null
  /** The last batch holding each document's updates, until it is durable or refused (see `load`). */
  private readonly writes = new Map<string, Promise<void>>()
  private readonly compactAfterUpdates: number
  private readonly compactAfterBytes: number
  /**
   * With `projectAfterBroadcast`: per document, the projection computed after its last commit,
   * waiting for its next batch to write it, and the committed updates it covers since the last
   * row written.
   */
  private readonly projectionDue = new Map<D, { projection: P; covers: ProjectedUpdate[] }>()
  /**
   * Committed updates whose projection could not be computed after their commit (more were
   * applied meanwhile): the document's next batch computes it before its write, as without
   * `projectAfterBroadcast`. The first ones may be stand-ins (see `reproject`).
   */
  private readonly unprojected = new Map<D, { updates: ProjectedUpdate[]; reported: PendingUpdate[] }>()
  /** The last batch writing rows computed after an earlier broadcast, until it settles. */
  private rowsWriting: Promise<void> | null = null

  constructor(
    private readonly store: DocStore,
    private readonly options: CommitQueueOptions<D, P>,
  ) {
    this.compactAfterUpdates = options.compactAfterUpdates ?? 500
    this.compactAfterBytes = options.compactAfterBytes ?? 1024 * 1024
  }

  /**
   * Loads a document's stored state for a new copy in memory, once the writes of its
   * previous copy (a room dropped a moment ago) are durable or refused. Whether a read made
   * beside an append sees it is the engine's business (a commit may land before or after
   * the read, or be acknowledged only after it): adding the in-flight updates to what was
   * read could apply one twice, leaving them out could lose one. Read after them, the store
   * holds each exactly once, and nothing that failed to be written is served. Only the
   * reload of a dropped document waits; no copy of a document writes while it loads (the
   * registry holds one room per document). Rejects with LoadError when the store cannot
   * read it.
   */
  async load(docName: string): Promise<LoadedDoc> {
    for (let writing = this.writes.get(docName); writing; writing = this.writes.get(docName)) await writing
    try {
      return await this.store.load(docName)
    } catch (error) {
      throw new LoadError('could not load the document; try again', { cause: error })
    }
  }

  /** Starts keeping the log counters of a document loaded from `loaded`. */
  track(doc: D, loaded: LoadedDoc): void {
    this.logs.set(doc, { count: loaded.loggedCount, bytes: loaded.loggedBytes, compactDue: false })
  }

  /** Forgets a document that left memory. */
  untrack(doc: D): void {
    this.logs.delete(doc)
    this.dirty.delete(doc)
    this.forgetProjection(doc)
  }

  /**
   * A document's projection is computed by its next batch, covering `updates` besides what it
   * has applied since (stand-ins for updates already on disk whose row was never written: a
   * restart after a crash finds them by the rows' log positions).
   */
  reproject(doc: D, updates: readonly ProjectedUpdate[]): void {
    const late = this.unprojected.get(doc)
    if (late) late.updates.unshift(...updates)
    else this.unprojected.set(doc, { updates: [...updates], reported: [] })
    this.schedule(doc)
  }

  /** Whether a document's projection waits to be computed or written (see `projectAfterBroadcast`). */
  projectionPending(doc: D): boolean {
    return this.projectionDue.has(doc) || this.unprojected.has(doc)
  }

  /** Resolves once no projection waits to be computed or written (at once when none does): before reading rows. */
  projectionsWritten(): Promise<void> {
    if (this.projectionDue.size > 0 || this.unprojected.size > 0) return this.flushed()
    return this.rowsWriting ?? Promise.resolve()
  }

  /** A document that leaves memory with a projection not written: lost from here; a restart finds its row behind the log. */
  private forgetProjection(doc: D): void {
    this.projectionDue.delete(doc)
    this.unprojected.delete(doc)
  }

  /** A document has updates to write: they go into the batch started at the end of this turn. */
  schedule(doc: D): void {
    this.dirty.add(doc)
    if (this.scheduled) return
    this.scheduled = true
    if (!this.writing) setImmediate(() => this.flush())
  }

  /** Whether a document has a compaction waiting for its next batch. */
  compactionDue(doc: D): boolean {
    return this.logs.get(doc)?.compactDue ?? false
  }

  /**
   * Asks for a compaction in the document's next batch, if its log is long (or, with `force`,
   * if it has any log at all: a document leaves memory as one snapshot).
   */
  compactIfDue(doc: D, force = false): void {
    const log = this.logs.get(doc)
    if (!log || log.count === 0 || log.compactDue) return
    if (!force && log.count < this.compactAfterUpdates && log.bytes < this.compactAfterBytes) return
    log.compactDue = true
    this.schedule(doc)
  }

  /** Whether anything is waiting to be written or being written. */
  get busy(): boolean {
    return this.dirty.size > 0 || this.writing !== null
  }

  /** Resolves once every update applied so far is on disk (at once if there is none). */
  flushed(): Promise<void> {
    if (this.dirty.size > 0 || this.scheduled) return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
    return this.writing ?? Promise.resolve()
  }

  /** Starts writing what is pending, unless a batch is being written (it follows that one). */
  flush(): void {
    if (this.writing) {
      this.scheduled = this.dirty.size > 0 || this.waiters.length > 0
      return
    }
    this.startBatch()
  }

  /** Starts a batch now, even behind one being written (a broken document must not hold the others' updates back). */
  flushNow(): void {
    // Asked while a batch is put together (a document found broken as it is read): that batch
    // goes first, or a document's later updates could be written before its earlier ones.
    if (this.building) setImmediate(() => this.flushNow())
    else this.startBatch()
  }

  private startBatch(): void {
    this.scheduled = false
    const waiters = this.waiters
    this.waiters = []
    const carried = this.carried
    this.carried = []
    const batches: Batch<D, P>[] = []
    // Taken out first: a document scheduled while this batch is put together goes into the next one.
    const dirty = [...this.dirty]
    this.dirty.clear()
    this.building = true
    try {
      for (const doc of dirty) {
        try {
          this.addToBatch(doc, batches)
        } catch (error) {
          // Its state could not be read or projected: what it holds may differ from what can be
          // written, so it leaves memory (its clients resend), and the others are written.
          this.options.onError?.(error, 'preparing a commit')
          this.forgetProjection(doc)
          if (doc.state !== 'closed') this.options.onFailed(doc)
        }
      }
    } finally {
      this.building = false
    }
    if (batches.length === 0) {
      const writing = this.writing ?? Promise.resolve()
      for (const waiter of carried) waiter.resolve()
      void writing.then(
        () => waiters.forEach((w) => w.resolve()),
        (error: Error) => waiters.forEach((w) => w.reject(error)),
      )
      return
    }
    const entries: PersistEntry[] = batches.map(({ doc, updates, row, rowBefore, snapshot }) => ({
      docName: doc.docName,
      updates: updates.map(({ update, author, changed, at, clients, overwritten }) => ({
        update,
        author,
        changed,
        at,
        clients,
        overwritten,
      })),
      projection: row,
      ...(rowBefore ? { projectionBefore: true } : {}),
      snapshot,
    }))
    const startedAt = performance.now()
    const count = batches.reduce((n, b) => n + b.updates.length, 0)
    const previous = this.writing
    const written = (previous ? previous.catch(() => undefined) : Promise.resolve()).then(() => this.store.append(entries))
    const settled = written.then(
      (log) => {
        const seconds = (performance.now() - startedAt) / 1000
        let due = false
        for (const batch of batches) due = this.committed(batch, log?.get(batch.doc.docName)) || due
        // Counted once the updates are out: nothing but the broadcast between disk and clients.
        this.options.metrics?.persisted(entries.length, count, seconds)
        // Their projections, computed just now, are written by the next batch: so are the waiters released.
        if (due) this.carried.push(...waiters, ...carried)
        else for (const waiter of [...waiters, ...carried]) waiter.resolve()
      },
      async (error: unknown) => {
        this.options.onError?.(error, 'persist')
        for (const { doc } of batches) this.options.onFailed(doc)
        const failure = new PersistError('could not persist the update; the document was unloaded')
        for (const waiter of waiters) waiter.reject(failure)
        // The rows of updates already on disk do not fail with the updates that came with them:
        // written alone, as they would have been with their own updates.
        const rows = entries.filter((entry) => entry.projectionBefore).map((entry) => ({ ...entry, updates: [], snapshot: undefined }))
        if (rows.length > 0) await this.store.append(rows).catch((again: unknown) => this.options.onError?.(again, 'persist rows'))
        for (const waiter of carried) waiter.resolve()
        throw failure
      },
    )
    this.writing = settled
    if (batches.some((b) => b.rowBefore)) {
      const rows: Promise<void> = settled.then(
        () => this.rowsWritten(rows),
        () => this.rowsWritten(rows),
      )
      this.rowsWriting = rows
    }
    // Registered before any load can wait on it, so a load waking up finds the map updated.
    const done: Promise<void> = settled.then(
      () => this.forgetWrites(batches, done),
      () => this.forgetWrites(batches, done),
    )
    for (const { doc } of batches) this.writes.set(doc.docName, done)
    void settled
      .catch(() => undefined)
      .then(() => {
        if (this.writing !== settled) return
        this.writing = null
        if (this.scheduled || this.dirty.size > 0) this.startBatch()
      })
  }

  /** Adds a document's share to the batch being put together. */
  private addToBatch(doc: D, batches: Batch<D, P>[]): void {
    // Read before its pending updates are taken: the first read of a stored document may change
    // it (a record stored by an older server is repaired as it is read), and that change must
    // ride in this batch, not stay pending with nothing scheduled to write it.
    if (doc.state !== 'closed') void doc.doc
    if (doc.state === 'closed') {
      this.forgetProjection(doc)
      return
    }
    const updates = doc.takePending()
    const log = this.logs.get(doc)
    // A due compaction rides along: the state taken now holds exactly what is written.
    const snapshot = log?.compactDue ? Y.encodeStateAsUpdate(doc.doc) : undefined
    if (log) log.compactDue = false
    const batch = this.batchOf(doc, updates, snapshot)
    if (updates.length > 0 || snapshot || batch.row) batches.push(batch)
  }

  private rowsWritten(rows: Promise<void>): void {
    if (this.rowsWriting === rows) this.rowsWriting = null
  }

  private forgetWrites(batches: Batch<D, P>[], done: Promise<void>): void {
    for (const { doc } of batches) if (this.writes.get(doc.docName) === done) this.writes.delete(doc.docName)
  }

  /** What a document's batch writes of its projection, and which it computes before the write. */
  private batchOf(doc: D, updates: PendingUpdate[], snapshot: Uint8Array | undefined): Batch<D, P> {
    const { project, projectAfterBroadcast } = this.options
    if (!projectAfterBroadcast) {
      const projection = updates.length > 0 ? project?.(doc, updates) : undefined
      return { doc, updates, snapshot, projection, projected: updates, row: projection?.row, rowBefore: false, before: true }
    }
    const due = this.projectionDue.get(doc)
    const late = this.unprojected.get(doc)
    this.projectionDue.delete(doc)
    this.unprojected.delete(doc)
    // Computed now, of the state this batch leaves, when no commit could compute it after its
    // broadcast, and with a compaction: the snapshot replaces the log a row's position points into.
    if (late || (snapshot && (due || updates.length > 0))) {
      const covers = [...(due?.covers ?? []), ...(late?.updates ?? []), ...updates]
      const projection = covers.length > 0 ? project?.(doc, covers) : undefined
      const projected = [...(late?.reported ?? []), ...updates]
      return { doc, updates, snapshot, projection, projected, row: projection?.row, rowBefore: false, before: true }
    }
    return {
      doc,
      updates,
      snapshot,
      projection: undefined,
      projected: [],
      row: due?.projection.row,
      rowBefore: due !== undefined,
      before: false,
    }
  }

  /**
   * A document's batch is on disk: hand it back, count its log, run the effects, compact if the
   * log is long. True when its projection was computed here, to be written by the next batch.
   */
  private committed(batch: Batch<D, P>, numbers: { first: number; last: number } | undefined): boolean {
    const { doc, updates, snapshot } = batch
    if (doc.state === 'closed') return false
    doc.committed(updates)
    const log = this.logs.get(doc)
    if (log) {
      if (snapshot) {
        log.count = 0
        log.bytes = 0
      } else {
        log.count += updates.length
        for (const u of updates) log.bytes += u.update.byteLength
      }
    }
    if (updates.length === 0) return false
    let { projection, projected } = batch
    let due = false
    if (!batch.before) {
      if (doc.unpersisted === 0) {
        // The state in memory is what is on disk: its projection now is this commit's.
        const covers = [...(this.projectionDue.get(doc)?.covers ?? []), ...updates]
        projection = this.options.project?.(doc, covers)
        projected = updates
        if (projection) {
          this.projectionDue.set(doc, { projection, covers })
          this.schedule(doc)
          due = true
        }
      } else {
        const late = this.unprojected.get(doc) ?? { updates: [], reported: [] }
        late.updates.push(...updates)
        late.reported.push(...updates)
        this.unprojected.set(doc, late)
        // The next batch computes it, whether the updates applied meanwhile are pending or
        // already in a batch of their own (`flushNow`): everything before it is on disk by then.
        this.schedule(doc)
      }
    }
    this.options.onCommitted(doc, updates, projection, numbers, projected)
    this.compactIfDue(doc)
    return due
  }

  /** Writes everything pending, then lets go of the store (server shutdown). */
  async close(): Promise<void> {
    for (const doc of this.logs.keys()) this.compactIfDue(doc, true)
    while (this.busy) {
      this.flush()
      await this.flushed().catch(() => undefined)
    }
    await this.store.close()
  }
}
