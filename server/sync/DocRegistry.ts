/**
 * The loaded documents: loads a room on first use, persists every room's updates once
 * per event-loop turn in one transaction (before anything is broadcast), compacts
 * long logs, and unloads rooms a grace period after their last user left.
 */
import * as Y from 'yjs'
import { type DocName, parseDocName } from '../../shared/docNames.js'
import { CLOSE } from '../../shared/protocol.js'
import type { SyncMetrics } from '../metrics/Metrics.js'
import type { DocStore, PersistEntry, RecordProjection } from '../store/DocStore.js'
import { type PendingUpdate, Room, type RoomHost } from './Room.js'

export interface RegistryOptions {
  /** How long an unused document stays loaded. @default 2000 */
  unloadGraceMs?: number
  /** Compact a document's log into a snapshot past this many updates. @default 500 */
  compactAfterUpdates?: number
  /** ... or past this many bytes of log. @default 1 MiB */
  compactAfterBytes?: number
  /** The projection row written with a record's updates. */
  project?: (room: Room, persisted: PendingUpdate[]) => RecordProjection | undefined
  onError?: (error: unknown, context: string) => void
  /** Counters (persist latency, updates in/out, fan-out, reverts). */
  metrics?: SyncMetrics
}

/** Called after a room's updates are on disk and broadcast. */
export type PersistListener = (room: Room, persisted: PendingUpdate[]) => void

/** The document could not be persisted; it was dropped from memory. */
export class PersistError extends Error {}

export class DocRegistry implements RoomHost {
  private readonly rooms = new Map<string, Room>()
  private readonly dirty = new Set<Room>()
  private readonly unloadTimers = new Map<Room, NodeJS.Timeout>()
  private readonly listeners = new Set<PersistListener>()
  private flushWaiters: { resolve: () => void; reject: (error: Error) => void }[] = []
  private flushScheduled = false
  private closed = false
  private readonly options: Required<Omit<RegistryOptions, 'project' | 'onError' | 'metrics'>> & RegistryOptions

  constructor(
    private readonly store: DocStore,
    options: RegistryOptions = {},
  ) {
    this.options = { unloadGraceMs: 2000, compactAfterUpdates: 500, compactAfterBytes: 1024 * 1024, ...options }
  }

  get metrics(): SyncMetrics | undefined {
    return this.options.metrics
  }

  get size(): number {
    return this.rooms.size
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
    const room = new Room(parsed.name as DocName, docName, this.store.load(docName), this)
    this.rooms.set(docName, room)
    return room
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
      if (room.pending.length > 0) await this.flushed()
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
    setImmediate(() => this.flush())
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
    this.flush()
    this.drop(room)
  }

  // ---- persistence ----------------------------------------------------------------

  /** Resolves after the next flush (at once if nothing is waiting to be written). */
  flushed(): Promise<void> {
    if (this.dirty.size === 0 && !this.flushScheduled) return Promise.resolve()
    return new Promise((resolve, reject) => this.flushWaiters.push({ resolve, reject }))
  }

  /** Persists every pending update, then broadcasts. Synchronous. */
  flush(): void {
    this.flushScheduled = false
    const waiters = this.flushWaiters
    this.flushWaiters = []
    const batches: { room: Room; updates: PendingUpdate[] }[] = []
    for (const room of this.dirty) {
      if (room.state === 'closed') continue
      const updates = room.takePending()
      if (updates.length > 0) batches.push({ room, updates })
    }
    this.dirty.clear()
    if (batches.length > 0) {
      const entries: PersistEntry[] = batches.map(({ room, updates }) => ({
        docName: room.docName,
        updates,
        projection: this.options.project?.(room, updates),
      }))
      try {
        const startedAt = performance.now()
        this.store.append(entries)
        this.options.metrics?.persisted(entries.length, batches.reduce((n, b) => n + b.updates.length, 0), (performance.now() - startedAt) / 1000)
      } catch (error) {
        this.options.onError?.(error, 'persist')
        for (const { room } of batches) this.drop(room)
        const failure = new PersistError('could not persist the update; the document was unloaded')
        for (const waiter of waiters) waiter.reject(failure)
        return
      }
      for (const { room, updates } of batches) {
        room.broadcastPersisted(updates)
        for (const listener of this.listeners) {
          try {
            listener(room, updates)
          } catch (error) {
            this.options.onError?.(error, 'persist listener')
          }
        }
        this.maybeCompact(room)
      }
    }
    for (const waiter of waiters) waiter.resolve()
  }

  private maybeCompact(room: Room): void {
    if (room.loggedCount < this.options.compactAfterUpdates && room.loggedBytes < this.options.compactAfterBytes) return
    try {
      this.store.compact(room.docName, Y.encodeStateAsUpdate(room.doc))
      room.loggedCount = 0
      room.loggedBytes = 0
    } catch (error) {
      this.options.onError?.(error, 'compact')
    }
  }

  // ---- lifecycle ------------------------------------------------------------------

  private cancelUnload(room: Room): void {
    const timer = this.unloadTimers.get(room)
    if (timer) clearTimeout(timer)
    this.unloadTimers.delete(room)
  }

  private unload(room: Room): void {
    if (room.pending.length > 0) this.flush()
    if (room.state === 'closed') return
    if (room.loggedCount > 0) this.maybeCompact(room)
    this.rooms.delete(room.docName)
    this.dirty.delete(room)
    room.close(CLOSE.normal.code, CLOSE.normal.reason)
  }

  /** Forgets a room whose state could not be persisted; its clients resend on reconnect. */
  private drop(room: Room): void {
    this.cancelUnload(room)
    this.rooms.delete(room.docName)
    this.dirty.delete(room)
    room.close(CLOSE.internalError.code, CLOSE.internalError.reason)
  }

  /** Persists what is pending and closes every room (server shutdown). */
  close(): void {
    if (this.closed) return
    if (this.dirty.size > 0) this.flush()
    this.closed = true
    for (const timer of this.unloadTimers.values()) clearTimeout(timer)
    this.unloadTimers.clear()
    for (const room of this.rooms.values()) room.close(CLOSE.shuttingDown.code, CLOSE.shuttingDown.reason)
    this.rooms.clear()
  }
}
