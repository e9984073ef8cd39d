/**
 * The loaded documents: a room per document, loaded on first use (its name resolved by the
 * document kinds) and unloaded a grace period after its last user left. A document is
 * `loading` (its stored state being read, its load hooks running: everyone who opens it
 * meanwhile waits for that one load), then `live` (its room, in `rooms`), then its room is
 * `closed` as it leaves memory. Writing is the commit
 * queue's (CommitQueue); what follows a commit is the `onCommitted` callback's (the
 * after-commit effects, wired by the server).
 */
import { outdatedTimeout } from 'y-protocols/awareness'
import { CLOSE, type ServerNotice } from '../../shared/protocol.js'
import type { SyncMetrics } from '../metrics/Metrics.js'
import type { DocStore, LoadedDoc } from '../store/DocStore.js'
import type { NoticeOutbox } from '../store/NoticeOutbox.js'
import { CommitQueue, LoadError, PersistError, type Projected } from './CommitQueue.js'
import type { DocResolver, ResolvedDoc } from './DocPolicy.js'
import { PresenceBindings } from './PresenceBindings.js'
import { type PendingUpdate, Room, type RoomHost } from './Room.js'

export { PersistError } from './CommitQueue.js'

/**
 * Who may write each document when several processes share one store (cluster members,
 * docs/cluster.md). Generic: documents are names. The registry claims a document before it
 * reads it and releases it once it left memory with everything written; whether each commit
 * may still be written is the store's own check, in its transaction (PgDocStore's fence).
 */
export interface DocOwnership {
  /** Resolves with null once this process may load and write the document, else with why not. */
  claim(docName: string): Promise<OwnershipRefusal | null>
  /** The document left memory after its last commit: another process may claim it at once. */
  release(docName: string): void
}

/** Why a document may not be loaded here: another process owns it (`owner`), or this one may not write at all now. */
export interface OwnershipRefusal {
  reason: 'held' | 'no-lease'
  /** The owner's id, when `held`. */
  owner?: string
}

/**
 * A server transaction that may run in another process (docs/cluster.md, "Calls"): registered
 * under one name in every process alike (`defineCall`), its argument and its result plain JSON,
 * so that the process owning the document can run it. Expected refusals are results, not
 * throws: a throw reaches a caller in another process as a plain Error with its message
 * (a PersistError as a PersistError).
 */
export type DocCall<N, A, R> = (room: Room<N>, args: A) => R | Promise<R>

/** What a forwarded call came to: its result, or no process owns the document (the caller claims it). */
export type Forwarded = { answered: true; value: unknown } | { answered: false }

/**
 * The seam through which a call reaches the process owning its document (a cluster member's
 * forwarding, server/cluster/CallForwarder.ts), where `runCall` runs it.
 */
export interface DocForwarding {
  /**
   * Runs call `name` at the document's owner. `{ answered: false }` when no process owns it (or
   * the one asked no longer does); rejects with PersistError when the owner did not answer in
   * time (whether it ran is then unknown).
   */
  forward(docName: string, name: string, args: unknown): Promise<Forwarded>
}

/** How many times a call goes back and forth between claiming and forwarding before it gives up. */
const CALL_ATTEMPTS = 4

/** The document is owned by another process (or this one may not write now): it was not loaded. */
export class NotOwnerError extends LoadError {
  constructor(
    readonly docName: string,
    readonly refusal: OwnershipRefusal,
  ) {
    super(
      refusal.reason === 'held'
        ? `${docName} is owned by another member (${refusal.owner}); try again`
        : `this member may not write now (no live lease); try again`,
    )
  }
}

export interface RegistryOptions<N, P extends Projected> {
  /** What each document name means (4404 for a name no kind resolves). */
  resolve: DocResolver<N, P>
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
  /**
   * A room's updates are on disk and broadcast, with the projection of the state they leave
   * when known (see CommitQueue's `onCommitted`; `projected`: the updates it covers that were
   * not reported with one), and the log numbers the store gave them when it numbers them
   * (see `AppendedLog`).
   */
  onCommitted?: (
    room: Room<N>,
    updates: PendingUpdate[],
    projection: P | undefined,
    log: { first: number; last: number } | undefined,
    projected: readonly PendingUpdate[],
  ) => void
  /**
   * Projections are computed after the broadcast and written just after their updates (see
   * CommitQueue); only for a store whose rows keep their log position (SQLite), whose reader
   * waits for `projectionsWritten` and whose start rewrites rows a crash left behind. @default false
   */
  projectAfterBroadcast?: boolean
  onError?: (error: unknown, context: string) => void
  /** A stored document held what its guard refuses and was repaired as it loaded (for the log). */
  onRepaired?: (docName: string, issues: { path: string; message: string }[]) => void
  /** Counters (persist latency, updates in/out, fan-out, reverts). */
  metrics?: SyncMetrics
  /** Where notices wait for users who were not connected (see UserNotice); without it they are dropped. */
  outbox?: NoticeOutbox
  /** Claims documents before loading them (a cluster member); without it, this process writes every document. */
  ownership?: DocOwnership
  /** Forwards calls (`defineCall`) for documents another process owns to it; without it they fail with NotOwnerError. */
  forwarding?: DocForwarding
}

/** What to do when a room leaves memory (unloaded or dropped; not at shutdown, when everything goes). */
export type OnLeave = () => void

/**
 * Called when a room is loaded, before it goes live; may return (or resolve with) what to do
 * when it leaves memory. The room goes live once every hook has returned or settled: a hook
 * may open another document first (a record's index, see RecordIndex).
 */
export type LoadHook<N> = (room: Room<N>) => OnLeave | void | Promise<OnLeave | void>

/** Who waits for a loading document's room (see `whenLive`). */
interface Waiter<N> {
  ready(room: Room<N>): void
  failed(error: unknown): void
}

/** A document being loaded, and who waits for it. */
interface Loading<N> {
  readonly waiters: Waiter<N>[]
}

export class DocRegistry<N = unknown, P extends Projected = Projected> implements RoomHost {
  /** The live rooms. */
  private readonly rooms = new Map<string, Room<N>>()
  /** The documents being loaded: one load per document at a time. */
  private readonly loading = new Map<string, Loading<N>>()
  private readonly unloadTimers = new Map<Room<N>, NodeJS.Timeout>()
  private readonly loadHooks = new Set<LoadHook<N>>()
  /** What to do when each room leaves memory (from the load hooks). */
  private readonly onLeave = new Map<Room<N>, OnLeave[]>()
  private readonly commits: CommitQueue<Room<N>, P>
  /**
   * Notices being written to the outbox, the last write of each document and user: the next
   * write and any take of theirs wait for it (a notice kept just before a user connects is
   * handed over, notices are kept in the order they came), and so does `close`.
   */
  private readonly keeping = new Map<string, Promise<void>>()
  private closed = false
  /** The server transactions other processes may ask this one to run, by name. */
  private readonly calls = new Map<string, DocCall<N, unknown, unknown>>()
  /** Documents a call was last forwarded for: the next call is forwarded first, without a claim. */
  private readonly forwardedTo = new Set<string>()
  /** Removes outdated awareness states in every room, a tenth of the timeout apart (as y-protocols does per document). */
  private readonly awarenessTimer: NodeJS.Timeout
  private readonly unloadGraceMs: number
  private readonly awarenessTimeoutMs: number
  /** Awareness client ids bound to users, here so they outlive a room unloaded and loaded again. */
  readonly presence: PresenceBindings

  constructor(
    private readonly store: DocStore,
    private readonly options: RegistryOptions<N, P>,
  ) {
    this.unloadGraceMs = options.unloadGraceMs ?? 2000
    this.awarenessTimeoutMs = options.awarenessTimeoutMs ?? outdatedTimeout
    this.commits = new CommitQueue<Room<N>, P>(store, {
      compactAfterUpdates: options.compactAfterUpdates,
      compactAfterBytes: options.compactAfterBytes,
      project: (room, updates) => room.policy.project?.(room.doc, updates) as P | undefined,
      projectAfterBroadcast: options.projectAfterBroadcast,
      onCommitted: (room, updates, projection, log, projected) => {
        try {
          options.onCommitted?.(room, updates, projection, log, projected)
        } catch (error) {
          options.onError?.(error, 'after commit')
        }
      },
      onFailed: (room) => this.drop(room),
      onError: options.onError,
      metrics: options.metrics,
    })
    this.presence = new PresenceBindings(this.awarenessTimeoutMs)
    this.awarenessTimer = setInterval(() => this.removeOutdatedAwareness(), this.awarenessTimeoutMs / 10)
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

  /** What a document name means, or null when it names no document. */
  resolve(docName: string): ResolvedDoc<N, P> | null {
    return this.options.resolve(docName)
  }

  /** The room of a document if it is live (loaded), else undefined; never loads it. */
  get(docName: string): Room<N> | undefined {
    return this.rooms.get(docName)
  }

  loadedRooms(): IterableIterator<Room<N>> {
    return this.rooms.values()
  }

  /**
   * The live room of a document, loading it if needed: concurrent opens of a document being
   * loaded share its one load. Rejects for a name no kind resolves, with LoadError when the
   * store cannot read the document, and once the registry is closed. A room that nobody
   * holds once loaded (no peer added, no `retain`: a socket closed while it loaded) leaves
   * memory after the grace period, like any unused room.
   */
  open(docName: string): Promise<Room<N>> {
    return new Promise((resolve, reject) => this.whenLive(docName, { ready: resolve, failed: reject }))
  }

  /**
   * Hands `waiter` the document's live room: at once if it is loaded, else as soon as it is,
   * waiters in the order they came (so writes through `use` land in the order they were asked
   * for, loaded or not).
   */
  private whenLive(docName: string, waiter: Waiter<N>): void {
    if (this.closed) return waiter.failed(new Error('registry is closed'))
    const live = this.rooms.get(docName)
    if (live) {
      this.cancelUnload(live)
      return waiter.ready(live)
    }
    const loading = this.loading.get(docName)
    if (loading) {
      loading.waiters.push(waiter)
      return
    }
    const resolved = this.options.resolve(docName)
    if (!resolved) return waiter.failed(new Error(`bad document name ${docName}`))
    const entry: Loading<N> = { waiters: [waiter] }
    this.loading.set(docName, entry)
    void this.load(docName, resolved).then(
      (room) => {
        this.loading.delete(docName)
        this.rooms.set(docName, room)
        for (const { ready } of entry.waiters) ready(room)
        if (room.isIdle()) this.onIdle(room)
      },
      (error: unknown) => {
        this.loading.delete(docName)
        for (const { failed } of entry.waiters) failed(error)
      },
    )
  }

  /** Reads a document's stored state into a new room and runs the load hooks on it. */
  private async load(docName: string, resolved: ResolvedDoc<N, P>): Promise<Room<N>> {
    const { ownership } = this.options
    // Claimed before the read: what is read then includes every commit of a previous owner.
    const refusal = ownership ? await ownership.claim(docName) : null
    if (refusal) throw new NotOwnerError(docName, refusal)
    let loaded: LoadedDoc
    try {
      ;[loaded] = await Promise.all([this.commits.load(docName), resolved.policy.preload?.()])
    } catch (error) {
      ownership?.release(docName)
      throw error
    }
    if (this.closed) throw new Error('registry is closed')
    const room = new Room<N>(resolved.name, docName, resolved.policy, loaded, this)
    this.commits.track(room, loaded)
    const leaves = await Promise.all([...this.loadHooks].map((hook) => this.runHook(hook, room)))
    const onLeave = leaves.filter((leave) => leave !== undefined)
    if (onLeave.length > 0) this.onLeave.set(room, onLeave)
    if (this.closed) {
      room.close(CLOSE.shuttingDown.code, CLOSE.shuttingDown.reason)
      this.left(room)
      throw new Error('registry is closed')
    }
    return room
  }

  /** A hook that throws or rejects is reported; the room loads anyway. */
  private async runHook(hook: LoadHook<N>, room: Room<N>): Promise<OnLeave | undefined> {
    try {
      return (await hook(room)) ?? undefined
    } catch (error) {
      this.options.onError?.(error, 'load hook')
      return undefined
    }
  }

  /** Runs `hook` on every room loaded from now on. */
  onLoad(hook: LoadHook<N>): () => void {
    this.loadHooks.add(hook)
    return () => this.loadHooks.delete(hook)
  }

  private left(room: Room<N>): void {
    this.commits.untrack(room)
    // Unloaded with everything written, or dropped: nothing more of this copy will commit.
    this.options.ownership?.release(room.docName)
    const leave = this.onLeave.get(room)
    this.onLeave.delete(room)
    for (const fn of leave ?? []) fn()
  }

  /**
   * Runs `fn` on a document's room (at once if it is live, else once it is loaded; calls for
   * one document run in the order they were made) and resolves once its changes are on disk
   * (and broadcast). Rejects with PersistError if they could not be persisted, and as `open`
   * if the document cannot be loaded (LoadError, a PersistError: the store failed either way).
   */
  async use<T>(docName: string, fn: (room: Room<N>) => T | Promise<T>): Promise<T> {
    const { room, result } = await new Promise<{ room: Room<N>; result: T | Promise<T> }>((resolve, reject) =>
      this.whenLive(docName, {
        ready: (room) => {
          room.retain()
          try {
            resolve({ room, result: fn(room) })
          } catch (error) {
            room.release()
            reject(error)
          }
        },
        failed: reject,
      }),
    )
    try {
      const value = await result
      if (room.unpersisted > 0) await this.commits.flushed()
      return value
    } finally {
      room.release()
    }
  }

  /**
   * Registers a server transaction under `name` (the same in every process) and returns how to
   * run it on a document: here as `use` when this process owns or can claim the document, else
   * at its owner (the `forwarding` seam), which applies, validates and commits it as its own.
   * Resolves once its changes are committed. Rejects as `use`, and with PersistError when no
   * process could run it (no owner answered, nobody could claim it).
   */
  defineCall<A, R>(name: string, fn: DocCall<N, A, R>): (docName: string, args: A) => Promise<R> {
    if (this.calls.has(name)) throw new Error(`call ${name} is defined twice`)
    this.calls.set(name, fn as DocCall<N, unknown, unknown>)
    return (docName, args) => this.call(docName, name, args) as Promise<R>
  }

  private async call(docName: string, name: string, args: unknown): Promise<unknown> {
    const { forwarding } = this.options
    const fn = this.calls.get(name)!
    let forwardFirst = forwarding !== undefined && !this.rooms.has(docName) && !this.loading.has(docName) && this.forwardedTo.has(docName)
    for (let attempt = 1; attempt <= CALL_ATTEMPTS; attempt++) {
      if (!forwardFirst) {
        try {
          return await this.use(docName, (room) => fn(room, args))
        } catch (error) {
          if (!forwarding || !(error instanceof NotOwnerError) || error.refusal.reason !== 'held') throw error
        }
      }
      forwardFirst = false
      const outcome = await forwarding!.forward(docName, name, args)
      if (outcome.answered) {
        this.rememberForwarded(docName)
        return outcome.value
      }
      this.forwardedTo.delete(docName)
    }
    throw new PersistError(`no member could write ${docName} now (no owner took the call, and it could not be claimed); try again`)
  }

  private rememberForwarded(docName: string): void {
    // A bound on memory: forgetting only costs one claim refused before the next forward.
    if (this.forwardedTo.size >= 10_000) this.forwardedTo.clear()
    this.forwardedTo.add(docName)
  }

  /**
   * Runs a call that another process forwarded here, only here (never forwarded on): as `use`,
   * so it rejects with NotOwnerError when this process does not own the document any more.
   */
  runCall(docName: string, name: string, args: unknown): Promise<unknown> {
    const fn = this.calls.get(name)
    if (!fn) return Promise.reject(new Error(`unknown call ${name}`))
    return this.use(docName, (room) => fn(room, args))
  }

  /** Resolves once every update applied so far is on disk (at once if there is none). */
  flushed(): Promise<void> {
    return this.commits.flushed()
  }

  /** Resolves once every projection of what is committed is written (at once if none waits): before reading them. */
  projectionsWritten(): Promise<void> {
    return this.commits.projectionsWritten()
  }

  /**
   * Writes a document's projection again, counting `missed` updates on disk that its row does
   * not reflect (a crash between an update and its row, found at start), the last of them at
   * `at` by `author`.
   */
  async reproject(docName: string, missed: number, at: number, author: string | null): Promise<void> {
    const standIns = Array.from({ length: missed }, (_, i) => ({ author: i === missed - 1 ? author : null, at }))
    await this.use(docName, (room) => this.commits.reproject(room, standIns))
    await this.commits.projectionsWritten()
  }

  /** Starts writing what is pending (tests and shutdown; otherwise batches start by themselves). */
  flush(): void {
    this.commits.flush()
  }

  // ---- RoomHost -------------------------------------------------------------------

  scheduleFlush(room: Room<N>): void {
    this.commits.schedule(room)
  }

  onIdle(room: Room<N>): void {
    if (room.state === 'closed') return
    // The grace period counts from the moment the room last became idle.
    this.cancelUnload(room)
    const timer = setTimeout(() => {
      this.unloadTimers.delete(room)
      if (room.isIdle()) this.unload(room)
    }, this.unloadGraceMs)
    timer.unref()
    this.unloadTimers.set(room, timer)
  }

  /** A room whose memory may differ from disk: persist what else is pending, then forget it (it reloads from disk on next use). */
  onBroken(room: Room<N>): void {
    this.commits.flushNow()
    this.drop(room)
  }

  onRepaired(room: Room<N>, issues: { path: string; message: string }[]): void {
    this.options.onRepaired?.(room.docName, issues)
  }

  keepNotice(room: Room<N>, userId: string, notice: ServerNotice): void {
    const { outbox } = this.options
    if (!outbox) return
    const key = outboxKey(room.docName, userId)
    const kept: Promise<void> = (this.keeping.get(key) ?? Promise.resolve())
      .then(() => outbox.keep(room.docName, userId, notice))
      .catch((error: unknown) => this.options.onError?.(error, 'keep notice'))
      .finally(() => {
        if (this.keeping.get(key) === kept) this.keeping.delete(key)
      })
    this.keeping.set(key, kept)
  }

  async takeNotices(room: Room<N>, userId: string): Promise<ServerNotice[]> {
    try {
      await this.keeping.get(outboxKey(room.docName, userId))
      return (await this.options.outbox?.take(room.docName, userId)) ?? []
    } catch (error) {
      this.options.onError?.(error, 'take notices')
      return []
    }
  }

  // ---- lifecycle ------------------------------------------------------------------

  private cancelUnload(room: Room<N>): void {
    const timer = this.unloadTimers.get(room)
    if (timer) clearTimeout(timer)
    this.unloadTimers.delete(room)
  }

  private unload(room: Room<N>): void {
    if (room.state === 'closed') return
    // A document leaves memory as one snapshot: its next load applies a single update.
    this.commits.compactIfDue(room, true)
    if (room.unpersisted > 0 || this.commits.compactionDue(room) || this.commits.projectionPending(room)) {
      // Not yet all on disk (or not yet compacted): write it, then try again. Scheduled, so that
      // the next batch takes whatever it holds: the retry must find it written, not loop.
      this.commits.schedule(room)
      this.commits.flush()
      void this.commits
        .flushed()
        .catch(() => undefined)
        .then(() => {
          if (room.isIdle() && this.rooms.get(room.docName) === room) this.unload(room)
        })
      return
    }
    this.rooms.delete(room.docName)
    room.close(CLOSE.normal.code, CLOSE.normal.reason)
    this.left(room)
  }

  /**
   * This process no longer owns the document (another member claimed it): the room is dropped
   * like one whose commit failed, its sockets closed with 1011; its clients reconnect and
   * resend what was not committed. Nothing of it is written (the store's fence refuses).
   */
  lost(docName: string): void {
    const room = this.rooms.get(docName)
    if (room) this.drop(room)
  }

  /** Forgets a room whose state could not be persisted; its clients resend on reconnect. */
  private drop(room: Room<N>): void {
    this.cancelUnload(room)
    if (this.rooms.get(room.docName) === room) this.rooms.delete(room.docName)
    room.close(CLOSE.internalError.code, CLOSE.internalError.reason)
    this.left(room)
  }

  private removeOutdatedAwareness(): void {
    this.presence.sweep()
    const now = Date.now()
    for (const room of this.rooms.values()) {
      try {
        room.removeOutdatedAwareness(now, this.awarenessTimeoutMs)
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
    // Not waited for: a load under way ends without a room (see `load`), its waiters told the
    // registry closed, and one the store never answers must not hold the shutdown.
    await this.commits.close()
    for (const room of this.rooms.values()) {
      room.close(CLOSE.shuttingDown.code, CLOSE.shuttingDown.reason)
      // After its last commit: another member may take it over now, not once this one left.
      this.options.ownership?.release(room.docName)
    }
    this.rooms.clear()
    this.onLeave.clear()
    await Promise.all(this.keeping.values())
  }
}

const outboxKey = (docName: string, userId: string) => `${docName}\n${userId}`
