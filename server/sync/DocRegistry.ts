/**
 * The loaded documents: loads a room on first use, persists the updates of every room
 * in one transaction per batch (before anything is broadcast), compacts long logs, and
 * unloads rooms a grace period after their last user left.
 *
 * Group commit: one batch is being written at a time. A batch takes everything applied
 * up to the end of the event-loop turn that starts it; what arrives while it is written
 * goes into the next one, started as soon as the previous one is durable.
 */
import { outdatedTimeout } from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { FieldIssue, FieldValues } from '../../shared/collections.js'
import { type DocName, parseDocName } from '../../shared/docNames.js'
import { CLOSE } from '../../shared/protocol.js'
import type { SyncMetrics } from '../metrics/Metrics.js'
import type { DocStore, PersistEntry, RecordProjection } from '../store/DocStore.js'
import { PresenceBindings } from './PresenceBindings.js'
import { type PendingUpdate, Room, type RoomHost } from './Room.js'

export interface RegistryOptions {
  /** How long an unused document stays loaded. @default 2000 */
  unloadGraceMs?: number
  /** Compact a document's log into a snapshot past this many updates. @default 500 */
  compactAfterUpdates?: number
  /** ... or past this many bytes of log. @default 1 MiB */
  compactAfterBytes?: number
  /**
   * Awareness states (presence, cursors) not renewed for this long are removed; clients
   * renew theirs every half of it. @default 30000 (y-protocols' `outdatedTimeout`)
   */
  awarenessTimeoutMs?: number
  /** The projection row written with a record's updates. */
  project?: (room: Room, persisted: PendingUpdate[]) => RecordProjection | undefined
  onError?: (error: unknown, context: string) => void
  /** The stored projection of a record's fields: what a repair on load falls back to. */
  storedFields?: (name: DocName) => FieldValues | undefined
  /** A stored record held what the gate refuses and was repaired as it loaded. */
  onRepaired?: (docName: string, issues: FieldIssue[]) => void
  /** Counters (persist latency, updates in/out, fan-out, reverts). */
  metrics?: SyncMetrics
}

/** Called after a room's updates are on disk and broadcast, with the projection written with them (if any). */
export type PersistListener = (room: Room, persisted: PendingUpdate[], projection: RecordProjection | undefined) => void

/** One room's share of a write. */
interface Batch {
  room: Room
  updates: PendingUpdate[]
  projection: RecordProjection | undefined
  /** The room's state, replacing its log (compaction). */
  snapshot: Uint8Array | undefined
}

/**
 * Called when a room is loaded; may return what to do when the room leaves memory
 * (unloaded or dropped; not at shutdown, when everything goes).
 */
export type LoadHook = (room: Room) => (() => void) | void

/** The document could not be persisted; it was dropped from memory. */
export class PersistError extends Error {}

export class DocRegistry implements RoomHost {
  private readonly rooms = new Map<string, Room>()
  private readonly dirty = new Set<Room>()
  private readonly unloadTimers = new Map<Room, NodeJS.Timeout>()
  private readonly listeners = new Set<PersistListener>()
  private readonly loadHooks = new Set<LoadHook>()
  /** What to do when each room leaves memory (from the load hooks). */
  private readonly onLeave = new Map<Room, (() => void)[]>()
  /** Waiting for the batch after the one being written (everything applied so far). */
  private flushWaiters: { resolve: () => void; reject: (error: Error) => void }[] = []
  private flushScheduled = false
  /** The batch being written, if any. */
  private writing: Promise<void> | null = null
  /** Updates of each document that are being written (a document reloaded meanwhile must include them). */
  private readonly inFlight = new Map<string, Uint8Array[]>()
  private closed = false
  /** Removes outdated awareness states in every room, a tenth of the timeout apart (as y-protocols does per document). */
  private readonly awarenessTimer: NodeJS.Timeout
  private readonly options: Required<Omit<RegistryOptions, 'project' | 'onError' | 'metrics' | 'storedFields' | 'onRepaired'>> & RegistryOptions
  /** Awareness client ids bound to users, here so they outlive a room unloaded and loaded again. */
  readonly presence: PresenceBindings

  constructor(
    private readonly store: DocStore,
    options: RegistryOptions = {},
  ) {
    this.options = { unloadGraceMs: 2000, compactAfterUpdates: 500, compactAfterBytes: 1024 * 1024, awarenessTimeoutMs: outdatedTimeout, ...options }
    this.presence = new PresenceBindings(this.options.awarenessTimeoutMs)
    this.awarenessTimer = setInterval(() => this.removeOutdatedAwareness(), this.options.awarenessTimeoutMs / 10)
    this.awarenessTimer.unref()
  }

  get metrics(): SyncMetrics | undefined {
    return this.options.metrics
  }

  get size(): number {
    return this.rooms.size
  }

  /** Why documents can no longer be written, or null (see DocStore.failure). */
  storeFailure(): Error | null {
    return this.store.failure()
  }

  get(docName: string): Room | undefined {
    return this.rooms.get(docName)
  }

  loadedRooms(): IterableIterator<Room> {
    return this.rooms.values()
  }

  /** The live room of a document, loading it if needed. */
  open(docName: string): Room {
    if (this.closed) throw new Error('registry is closed')
    const existing = this.rooms.get(docName)
    if (existing) {
      this.cancelUnload(existing)
      return existing
    }
    const parsed = parseDocName(docName)
    if (!parsed.ok) throw new Error(`bad document name ${docName}`)
    const loaded = this.store.load(docName)
    const writing = this.inFlight.get(docName)
    if (writing) loaded.updates.push(...writing)
    const room = new Room(parsed.name as DocName, docName, loaded, this)
    this.rooms.set(docName, room)
    for (const hook of this.loadHooks) {
      try {
        const leave = hook(room)
        if (leave) this.onLeave.set(room, [...(this.onLeave.get(room) ?? []), leave])
      } catch (error) {
        this.options.onError?.(error, 'load hook')
      }
    }
    return room
  }

  /** Runs `hook` on every room loaded from now on. */
  onLoad(hook: LoadHook): () => void {
    this.loadHooks.add(hook)
    return () => this.loadHooks.delete(hook)
  }

  private left(room: Room): void {
    const leave = this.onLeave.get(room)
    this.onLeave.delete(room)
    for (const fn of leave ?? []) fn()
  }

  /**
   * Runs `fn` on a document's room and resolves once its changes are on disk
   * (and broadcast). Rejects with PersistError if they could not be persisted.
   */
  async use<T>(docName: string, fn: (room: Room) => T | Promise<T>): Promise<T> {
    const room = this.open(docName)
    room.retain()
    try {
      const result = await fn(room)
      if (room.unpersisted > 0) await this.flushed()
      return result
    } finally {
      room.release()
    }
  }

  onPersisted(listener: PersistListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  // ---- RoomHost -------------------------------------------------------------------

  scheduleFlush(room: Room): void {
    this.dirty.add(room)
    if (this.flushScheduled) return
    this.flushScheduled = true
    if (!this.writing) setImmediate(() => this.flush())
  }

  onIdle(room: Room): void {
    if (this.unloadTimers.has(room) || room.state === 'closed') return
    const timer = setTimeout(() => {
      this.unloadTimers.delete(room)
      if (room.isIdle()) this.unload(room)
    }, this.options.unloadGraceMs)
    timer.unref()
    this.unloadTimers.set(room, timer)
  }

  /** A room whose memory may differ from disk: persist what else is pending, then forget it (it reloads from disk on next use). */
  onBroken(room: Room): void {
    this.startFlush()
    this.drop(room)
  }

  storedFields(room: Room): FieldValues | undefined {
    return this.options.storedFields?.(room.name)
  }

  onRepaired(room: Room, issues: FieldIssue[]): void {
    this.options.onRepaired?.(room.docName, issues)
  }

  // ---- persistence ----------------------------------------------------------------

  /** Resolves once every update applied so far is on disk (at once if there is none). */
  flushed(): Promise<void> {
    if (this.dirty.size > 0 || this.flushScheduled) return new Promise((resolve, reject) => this.flushWaiters.push({ resolve, reject }))
    return this.writing ?? Promise.resolve()
  }

  /** Starts writing what is pending, unless a batch is being written (it follows that one). */
  flush(): void {
    if (this.writing) {
      this.flushScheduled = this.dirty.size > 0 || this.flushWaiters.length > 0
      return
    }
    this.startFlush()
  }

  private startFlush(): void {
    this.flushScheduled = false
    const waiters = this.flushWaiters
    this.flushWaiters = []
    const batches: Batch[] = []
    for (const room of this.dirty) {
      if (room.state === 'closed') continue
      const updates = room.takePending()
      // A due compaction rides along: the state taken now holds exactly what is written.
      const snapshot = room.compactDue ? Y.encodeStateAsUpdate(room.doc) : undefined
      room.compactDue = false
      if (updates.length > 0 || snapshot) batches.push({ room, updates, snapshot, projection: updates.length > 0 ? this.options.project?.(room, updates) : undefined })
    }
    this.dirty.clear()
    if (batches.length === 0) {
      const writing = this.writing ?? Promise.resolve()
      void writing.then(() => waiters.forEach((w) => w.resolve()), (error: Error) => waiters.forEach((w) => w.reject(error)))
      return
    }
    const entries: PersistEntry[] = batches.map(({ room, updates, projection, snapshot }) => ({
      docName: room.docName,
      updates: updates.map(({ update, author, changed, at }) => ({ update, author, changed, at })),
      projection,
      snapshot,
    }))
    for (const { room, updates } of batches) {
      const list = this.inFlight.get(room.docName) ?? []
      for (const u of updates) list.push(u.update)
      this.inFlight.set(room.docName, list)
    }
    const startedAt = performance.now()
    const count = batches.reduce((n, b) => n + b.updates.length, 0)
    const previous = this.writing
    const written = (previous ? previous.catch(() => undefined) : Promise.resolve()).then(() => this.store.append(entries))
    const settled = written.then(
      () => {
        const seconds = (performance.now() - startedAt) / 1000
        this.settleInFlight(batches)
        for (const batch of batches) this.afterPersist(batch)
        // Counted once the updates are out: nothing but the broadcast between disk and clients.
        this.options.metrics?.persisted(entries.length, count, seconds)
        for (const waiter of waiters) waiter.resolve()
      },
      (error: unknown) => {
        this.settleInFlight(batches)
        this.options.onError?.(error, 'persist')
        for (const { room } of batches) this.drop(room)
        const failure = new PersistError('could not persist the update; the document was unloaded')
        for (const waiter of waiters) waiter.reject(failure)
        throw failure
      },
    )
    this.writing = settled
    void settled.catch(() => undefined).then(() => {
      if (this.writing !== settled) return
      this.writing = null
      if (this.flushScheduled || this.dirty.size > 0) this.startFlush()
    })
  }

  private settleInFlight(batches: Batch[]): void {
    for (const { room, updates } of batches) {
      const list = this.inFlight.get(room.docName)
      if (!list) continue
      list.splice(0, updates.length)
      if (list.length === 0) this.inFlight.delete(room.docName)
    }
  }

  /** A batch of a room is on disk: broadcast it, tell the listeners, compact if the log is long. */
  private afterPersist({ room, updates, projection, snapshot }: Batch): void {
    if (room.state === 'closed') return
    room.broadcastPersisted(updates)
    if (snapshot) {
      room.loggedCount = 0
      room.loggedBytes = 0
    }
    if (updates.length === 0) return
    for (const listener of this.listeners) {
      try {
        listener(room, updates, projection)
      } catch (error) {
        this.options.onError?.(error, 'persist listener')
      }
    }
    this.maybeCompact(room)
  }

  /** Asks for a compaction in the next batch (`force`: whatever the log's length). */
  private maybeCompact(room: Room, force = false): void {
    if (room.loggedCount === 0 || room.compactDue) return
    if (!force && room.loggedCount < this.options.compactAfterUpdates && room.loggedBytes < this.options.compactAfterBytes) return
    room.compactDue = true
    this.scheduleFlush(room)
  }

  // ---- lifecycle ------------------------------------------------------------------

  private cancelUnload(room: Room): void {
    const timer = this.unloadTimers.get(room)
    if (timer) clearTimeout(timer)
    this.unloadTimers.delete(room)
  }

  private unload(room: Room): void {
    if (room.state === 'closed') return
    // A document leaves memory as one snapshot: its next load applies a single update.
    this.maybeCompact(room, true)
    if (room.unpersisted > 0 || room.compactDue) {
      // Not yet all on disk (or not yet compacted): write it, then try again.
      this.flush()
      void this.flushed().catch(() => undefined).then(() => {
        if (room.isIdle() && this.rooms.get(room.docName) === room) this.unload(room)
      })
      return
    }
    this.rooms.delete(room.docName)
    this.dirty.delete(room)
    room.close(CLOSE.normal.code, CLOSE.normal.reason)
    this.left(room)
  }

  /** Forgets a room whose state could not be persisted; its clients resend on reconnect. */
  private drop(room: Room): void {
    this.cancelUnload(room)
    this.rooms.delete(room.docName)
    this.dirty.delete(room)
    room.close(CLOSE.internalError.code, CLOSE.internalError.reason)
    this.left(room)
  }

  private removeOutdatedAwareness(): void {
    this.presence.sweep()
    const now = Date.now()
    for (const room of this.rooms.values()) {
      try {
        room.removeOutdatedAwareness(now, this.options.awarenessTimeoutMs)
      } catch (error) {
        this.options.onError?.(error, 'awareness timeout')
      }
    }
  }

  /** Persists what is pending, closes every room and the store (server shutdown). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.awarenessTimer)
    for (const timer of this.unloadTimers.values()) clearTimeout(timer)
    this.unloadTimers.clear()
    for (const room of this.rooms.values()) this.maybeCompact(room, true)
    while (this.dirty.size > 0 || this.writing) {
      this.flush()
      await this.flushed().catch(() => undefined)
    }
    for (const room of this.rooms.values()) room.close(CLOSE.shuttingDown.code, CLOSE.shuttingDown.reason)
    this.rooms.clear()
    this.onLeave.clear()
    await this.store.close()
  }
}
