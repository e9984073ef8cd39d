/**
 * One loaded document and the peers connected to it: the in-memory half of the write path
 * (docs/architecture.md). A room never sees a WebSocket, only RoomSockets; it never reads
 * tokens; what its document means comes from its policy (DocPolicy).
 */
import * as decoding from 'lib0/decoding'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { type AwarenessEntry, decodeAwarenessUpdate, encodeAwarenessUpdate } from '../../shared/awarenessCodec.js'
import { CLOSE, LIMITS, MESSAGE, type ServerNotice } from '../../shared/protocol.js'
import { checkUpdateBounds, isPlainContent } from '../limits/updateBounds.js'
import type { SyncMetrics } from '../metrics/Metrics.js'
import type { LoadedDoc, StoredUpdate } from '../store/DocStore.js'
import { ClientAuthors } from './ClientAuthors.js'
import type { DocGuard, DocPolicy, GuardResult, UserNotice } from './DocPolicy.js'
import { awarenessMessage, encodedStep2Message, noticeMessage, syncStep1Message, syncStep2Message, updateMessage } from './messages.js'
import type { PresenceBindings } from './PresenceBindings.js'
import { type StateVector, Step1Pacer } from './Step1Pacer.js'
import { deepestNewType } from './typeTree.js'
import { type Origin, type Peer, authorOf, isOrigin, serverOrigin } from './types.js'

/** A message the room could not make sense of; the transport closes the socket with 4400. */
export class MalformedMessageError extends Error {}

export interface PendingUpdate extends StoredUpdate {
  origin: Origin | null
  /** Position of the update among those this room applied (1, 2, ...). */
  seq: number
  /** Notices its transaction's check made for users (see GuardResult), delivered once it is on disk. */
  notices?: UserNotice[]
}

/** How a room asks its registry to persist and to let go of it. */
export interface RoomHost {
  /** Persist this room's pending updates at the end of the current event-loop turn. */
  scheduleFlush(room: Room): void
  /** The room has no peers and no users left. */
  onIdle(room: Room): void
  /** Counters of the sync layer (optional). */
  readonly metrics?: SyncMetrics
  /** Which user each awareness client id belongs to (kept across reloads of the room). */
  readonly presence: PresenceBindings
  /**
   * The in-memory document may hold state that must never reach disk (a client update
   * threw half-way through Y.applyUpdate): persist what else is pending and reload it.
   */
  onBroken?(room: Room): void
  /** A stored document held what its guard refuses and was repaired as it loaded (for the log). */
  onRepaired?(room: Room, issues: { path: string; message: string }[]): void
  /** A notice for a user with no socket open to the document with notices on: keep it for their next connection. */
  keepNotice?(room: Room, userId: string, notice: ServerNotice): void
  /** The notices kept for a user on this document, removed from where they were kept. */
  takeNotices?(room: Room, userId: string): Promise<ServerNotice[]>
}

export type RoomState = 'live' | 'closed'

const REVERT = serverOrigin('revert')
const REPAIR = serverOrigin('repair')

/**
 * How long a freshly loaded document may wait for its first client's sync request
 * before it is parsed anyway (see `Room.hydrate`).
 */
const HYDRATE_GRACE_MS = 20

export class Room<N = unknown> {
  private readonly ydoc: Y.Doc
  readonly awareness: awarenessProtocol.Awareness
  readonly peers = new Set<Peer>()
  state: RoomState = 'live'
  /** Updates applied in memory but not yet on disk (nor sent to anyone). */
  pending: PendingUpdate[] = []
  /** Replies that reveal document state, held until what they reveal (up to `upTo`) is on disk. */
  private held: { upTo: number; reply: () => void }[] = []
  /** How many updates this room applied, and how many of them are on disk. */
  private appliedSeq = 0
  private persistedSeq = 0
  /**
   * The stored snapshot this room was loaded from, while it is the whole state: a client
   * with an empty document gets these bytes as they are, without encoding the state again.
   */
  private loadedState: Uint8Array | null = null
  private users = 0
  private gate: DocGuard | null = null
  /** The stored updates, until they are applied to the document (see `hydrate`). */
  private unapplied: Uint8Array[] | null
  /** Peers that get the server's sync step 1 once the document is applied. */
  private awaitingStep1: Peer[] = []
  private hydrateTimer: NodeJS.Timeout | null = null
  /** The peer whose update is being applied, and the transaction it made (see `applyPeerUpdate`). */
  private capturing: Peer | null = null
  private captured: Y.Transaction | null = null
  /**
   * What each read-only peer sent and was refused. Its later updates build on these
   * clocks, so the copy that computes their compensation must hold them too.
   */
  private readonly refused = new WeakMap<Peer, Uint8Array>()
  /** Sync step-1 replies, within each connection's byte budget. */
  private readonly step1: Step1Pacer
  /** Who wrote with each client id of the document. */
  private readonly clients: ClientAuthors

  constructor(
    /** What the document is, as its kind resolved the name. */
    readonly name: N,
    readonly docName: string,
    readonly policy: DocPolicy,
    loaded: LoadedDoc,
    private readonly host: RoomHost,
  ) {
    this.ydoc = new Y.Doc({ gc: true })
    this.clients = new ClientAuthors(this.ydoc, loaded.clientAuthors)
    if (loaded.updates.length === 1) this.loadedState = loaded.updates[0]!
    this.unapplied = loaded.updates.length > 0 ? loaded.updates : null
    this.step1 = new Step1Pacer(this.encodeStep2.bind(this), this.sendStep2.bind(this))
    this.awareness = new awarenessProtocol.Awareness(this.ydoc)
    this.awareness.setLocalState(null)
    // Outdated states are removed by one check over every room (DocRegistry), not by an interval
    // per document: with thousands of documents loaded, those timers were most of an idle server's CPU.
    clearInterval(this.awareness._checkInterval)
    // Bound, not arrow fields: a named closure per room costs a property table (tsx keeps names).
    this.awareness.on('update', this.handleAwarenessChange.bind(this))
    if (!this.unapplied) this.hydrate()
  }

  /** The document, with everything stored applied. */
  get doc(): Y.Doc {
    if (this.unapplied) this.hydrate()
    return this.ydoc
  }

  /** Whether the stored state has been applied to the in-memory document. */
  get hydrated(): boolean {
    return this.unapplied === null
  }

  /**
   * Applies the stored updates to the document. A large document takes a while to parse
   * (about 100 ms for 10,000 edits), so a freshly loaded room waits for it: the first
   * client with an empty document is sent the stored snapshot as it is, and parses it while
   * the server does the same (`handleSync`). Anything that needs the document's content
   * hydrates it first (the `doc` getter); `HYDRATE_GRACE_MS` after the first peer joined at
   * the latest, so its server sync step 1 is never held up for long.
   */
  private hydrate(): void {
    const updates = this.unapplied
    if (this.hydrateTimer) clearTimeout(this.hydrateTimer)
    this.hydrateTimer = null
    this.unapplied = null
    if (updates) {
      try {
        // One transaction over the snapshot and the log: several times faster than merging them first.
        this.ydoc.transact(() => {
          for (const update of updates) Y.applyUpdate(this.ydoc, update)
        }, serverOrigin('seed'))
      } catch (error) {
        // Stored state that does not parse: nothing may be served from this room.
        if (this.host.onBroken) this.host.onBroken(this)
        else this.close(CLOSE.internalError.code, CLOSE.internalError.reason)
        throw error
      }
    }
    this.ydoc.on('beforeTransaction', this.clients.handleBeforeTransaction.bind(this.clients))
    this.gate = this.policy.guard(this.ydoc, { authorOfClient: this.clients.authorOf.bind(this.clients) })
    this.ydoc.on('update', this.handleDocUpdate.bind(this))
    this.ydoc.on('afterTransaction', this.captureTransaction.bind(this))
    if (this.gate?.repair) this.repair(this.gate.repair())
    const waiting = this.awaitingStep1.filter((peer) => this.peers.has(peer))
    this.awaitingStep1 = []
    if (waiting.length === 0) return
    const step1 = syncStep1Message(this.ydoc)
    for (const peer of waiting) peer.socket.send(step1)
  }

  /**
   * A record stored by an older server may hold what the gate now refuses (a shared type in
   * a field, an embed in the notes): it is put right in a server transaction as it loads,
   * persisted like any write, and logged.
   */
  private repair(plan: GuardResult): void {
    if (!plan.revert) return
    this.ydoc.transact(plan.revert, REPAIR)
    this.gate?.accept()
    this.host.onRepaired?.(
      this,
      plan.issues.map(({ path, message }) => ({ path, message })),
    )
  }

  private hydrateSoon(delayMs: number): void {
    if (this.hydrated || this.state === 'closed') return
    if (this.hydrateTimer) clearTimeout(this.hydrateTimer)
    this.hydrateTimer = setTimeout(() => {
      this.hydrateTimer = null
      if (this.state !== 'closed' && !this.hydrated) {
        try {
          this.hydrate()
        } catch {
          // The room closed itself (see hydrate); its sockets were told.
        }
      }
    }, delayMs)
  }

  // ---- peers ------------------------------------------------------------------

  addPeer(peer: Peer): void {
    this.peers.add(peer)
    // A relayed peer is synced by its relay, from the committed state.
    if (!peer.relayed) {
      if (this.hydrated) peer.socket.send(syncStep1Message(this.ydoc))
      else if (this.awaitingStep1.push(peer) === 1) this.hydrateSoon(HYDRATE_GRACE_MS)
    }
    const states = [...this.awareness.getStates().keys()]
    if (states.length > 0) peer.socket.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, states)))
    if (peer.wantsNotices) void this.sendKept(peer)
  }

  /** Sends a new socket its user's kept notices; they are kept again if it left meanwhile. */
  private async sendKept(peer: Peer): Promise<void> {
    const { userId } = peer.principal
    const notices = (await this.host.takeNotices?.(this, userId)) ?? []
    const here = this.peers.has(peer) && peer.socket.isOpen()
    for (const notice of notices) {
      if (here) this.notify(peer, notice)
      else this.host.keepNotice?.(this, userId, notice)
    }
  }

  removePeer(peer: Peer): void {
    if (!this.peers.delete(peer)) return
    this.step1.forget(peer)
    // Its ids stay its user's for one awareness timeout from now: the provider reconnects with them.
    for (const id of peer.awarenessClients) this.host.presence.hold(this.docName, id, peer.principal.userId)
    const owned = [...peer.awarenessClients].filter((id) => this.awareness.getStates().has(id))
    if (owned.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, owned, peer)
    this.checkIdle()
  }

  /** Keeps the room loaded while the server works on it (REST writes, the authority). */
  retain(): void {
    this.users++
  }

  release(): void {
    this.users--
    this.checkIdle()
  }

  isIdle(): boolean {
    return this.peers.size === 0 && this.users === 0
  }

  private checkIdle(): void {
    if (this.isIdle()) this.host.onIdle(this)
  }

  // ---- inbound ----------------------------------------------------------------

  /** Handles one message from a peer. Throws MalformedMessageError on bad input. */
  handleMessage(peer: Peer, data: Uint8Array): void {
    try {
      const decoder = decoding.createDecoder(data)
      const type = decoding.readVarUint(decoder)
      switch (type) {
        case MESSAGE.sync:
          this.handleSync(peer, decoder)
          break
        case MESSAGE.awareness:
          this.handleAwareness(peer, decoding.readVarUint8Array(decoder))
          break
        case MESSAGE.queryAwareness: {
          const states = [...this.awareness.getStates().keys()]
          peer.socket.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, states)))
          break
        }
        case MESSAGE.auth:
          break
        default:
          throw new MalformedMessageError(`unknown message type ${type}`)
      }
    } catch (error) {
      if (error instanceof MalformedMessageError) throw error
      throw new MalformedMessageError(error instanceof Error ? error.message : String(error))
    }
  }

  private handleSync(peer: Peer, decoder: decoding.Decoder): void {
    const subType = decoding.readVarUint(decoder)
    switch (subType) {
      case syncProtocol.messageYjsSyncStep1:
        this.step1.request(peer, Y.decodeStateVector(decoding.readVarUint8Array(decoder)))
        break
      case syncProtocol.messageYjsSyncStep2:
      case syncProtocol.messageYjsUpdate:
        this.applyPeerUpdate(peer, decoding.readVarUint8Array(decoder))
        break
      default:
        throw new MalformedMessageError(`unknown sync message type ${subType}`)
    }
  }

  private applyPeerUpdate(peer: Peer, update: Uint8Array): void {
    const store = this.doc.store
    const bounds = checkUpdateBounds(update, undefined, (client) => Y.getState(store, client))
    if (!bounds.ok) throw new MalformedMessageError(bounds.reason)
    if (bounds.empty) return
    this.host.metrics?.updateIn(update.byteLength)
    if (!peer.canWrite) {
      this.convergeReadOnlyPeer(peer, update)
      return
    }
    // Typing and setting fields stay on the fast path; anything unusual is tried on a copy first.
    if (!bounds.plain || store.pendingStructs !== null || store.pendingDs !== null) this.tryOnCopy(update)
    const pendingBefore = this.pending.length
    const doc = this.doc
    this.capturing = peer
    this.captured = null
    try {
      Y.applyUpdate(doc, update, peer)
    } catch (error) {
      this.abandon(peer, pendingBefore, error)
    } finally {
      this.capturing = null
    }
    const transaction = this.captured as Y.Transaction | null
    this.captured = null
    this.boundPendingStructs()
    if (transaction === null) return
    if (!this.gate) return
    let result: GuardResult
    try {
      result = this.gate.check(transaction)
    } catch (error) {
      this.abandon(peer, pendingBefore, error)
    }
    if (result.notices?.length || result.overwritten?.length) this.annotate(peer, pendingBefore, result)
    if (result.revert) {
      const revertFrom = this.pending.length
      this.doc.transact(result.revert, REVERT)
      this.gate.accept()
      this.leaveOutOfHistory(peer, pendingBefore, revertFrom)
    }
    if (result.issues.length > 0) {
      const reason = result.issues.some((issue) => issue.reason === 'authority') ? 'authority' : 'invalid'
      this.host.metrics?.revert(reason)
      this.notify(peer, { type: 'rejected', reason, issues: result.issues.map(({ path, message }) => ({ path, message })) })
    }
  }

  /**
   * A rejected edit and its revert are not history: nobody ever saw the value (the timeline
   * would say "Carol changed End", then "System changed End"). The parts the revert put back
   * leave the peer's pending updates, and the revert names none.
   */
  private leaveOutOfHistory(peer: Peer, pendingBefore: number, revertFrom: number): void {
    const reverted = new Set<string>()
    for (let i = revertFrom; i < this.pending.length; i++) {
      for (const part of this.pending[i]!.changed) reverted.add(part)
      this.pending[i]!.changed = []
    }
    for (let i = pendingBefore; i < revertFrom; i++) {
      const pending = this.pending[i]!
      if (pending.origin === peer) pending.changed = pending.changed.filter((part) => !reverted.has(part))
    }
  }

  /** Puts what a check found for others (notices, overwritten values) on the pending update of the peer's transaction. */
  private annotate(peer: Peer, pendingBefore: number, { notices, overwritten }: GuardResult): void {
    for (let i = this.pending.length - 1; i >= pendingBefore; i--) {
      const pending = this.pending[i]!
      if (pending.origin !== peer) continue
      pending.notices = notices
      pending.overwritten = overwritten
      return
    }
  }

  /** Registered once per document, not per update (a closure per update costs garbage). */
  private captureTransaction(tr: Y.Transaction): void {
    if (this.capturing !== null && tr.origin === this.capturing) this.captured = tr
  }

  /**
   * Applies an unusual update (shared types, format marks, embeds, or one that may complete
   * structs waiting for their dependencies) to a scratch copy of the document, and refuses it
   * (MalformedMessageError: its sender alone is closed) if Yjs throws there or it nests
   * shared types deeper than MAX_NESTING_DEPTH. The live document is untouched either way;
   * applying to it afterwards integrates exactly what integrated here.
   */
  private tryOnCopy(update: Uint8Array): void {
    const copy = new Y.Doc({ gc: true })
    try {
      Y.applyUpdate(copy, Y.encodeStateAsUpdate(this.doc))
      let tr: Y.Transaction | null = null
      copy.on('afterTransaction', (t: Y.Transaction) => {
        tr ??= t
      })
      Y.applyUpdate(copy, update)
      const depth = tr === null ? 0 : deepestNewType(tr)
      if (depth > LIMITS.MAX_NESTING_DEPTH)
        throw new MalformedMessageError(`shared types nested ${depth} deep (at most ${LIMITS.MAX_NESTING_DEPTH})`)
      // Structs waiting for a dependency integrate later, inside the update of whoever sends it:
      // only text, values and deletions may wait, or someone else's keystroke would carry them in.
      // (Yjs keeps them encoded in its v2 format.)
      const waiting = copy.store.pendingStructs
      if (
        waiting !== null &&
        Y.decodeUpdateV2(waiting.update).structs.some((struct) => struct instanceof Y.Item && !isPlainContent(struct.content))
      ) {
        throw new MalformedMessageError('shared types waiting for missing dependencies')
      }
    } catch (error) {
      if (error instanceof MalformedMessageError) throw error
      throw new MalformedMessageError(`update could not be applied: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      copy.destroy()
    }
  }

  /**
   * A client update threw half-way through applying (Yjs applies inside a transaction,
   * so what was integrated before the throw stays in the document and is emitted), or
   * could not be checked. None of it may be persisted or broadcast: it is taken back out
   * of `pending`, the sender is closed with 4400 and the host reloads the document from
   * disk (the other clients reconnect and resend anything they still hold).
   *
   * A last resort only: updates that make Yjs throw half-way are refused before they reach
   * the live document (`checkUpdateBounds`, `tryOnCopy`). What remains is the live document
   * behaving differently from its exact copy, or a bug in the gate; the live document may
   * then hold half an update nobody else has, and reloading it from disk is the one safe way back.
   */
  private abandon(peer: Peer, pendingBefore: number, error: unknown): never {
    this.pending = this.pending.filter((p, i) => i < pendingBefore || p.origin !== peer)
    peer.socket.close(CLOSE.malformed.code, CLOSE.malformed.reason)
    if (this.host.onBroken) this.host.onBroken(this)
    else this.close(CLOSE.internalError.code, CLOSE.internalError.reason)
    throw new MalformedMessageError(`update could not be applied: ${error instanceof Error ? error.message : String(error)}`)
  }

  /**
   * Structs whose dependencies are missing wait in the document's store until the
   * dependencies arrive; a client sending only such structs must not grow it without limit.
   */
  private boundPendingStructs(): void {
    const store = this.doc.store
    const bytes = (store.pendingStructs?.update.byteLength ?? 0) + (store.pendingDs?.byteLength ?? 0)
    if (bytes <= LIMITS.MAX_PENDING_UPDATE_BYTES) return
    store.pendingStructs = null
    store.pendingDs = null
    throw new MalformedMessageError('too many updates with missing dependencies')
  }

  /**
   * A peer that may not write (a viewer, or any client on a server-only document) sent
   * an update. Nothing is applied here; the peer gets the compensating update that takes
   * its own copy back to the server's state.
   */
  private convergeReadOnlyPeer(peer: Peer, update: Uint8Array): void {
    const copy = new Y.Doc({ gc: false })
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(this.doc))
    const refused = this.refused.get(peer)
    const allRefused = refused ? Y.mergeUpdates([refused, update]) : update
    if (allRefused.byteLength > LIMITS.MAX_PENDING_UPDATE_BYTES)
      throw new MalformedMessageError('too many refused updates on one connection')
    this.refused.set(peer, allRefused)
    if (refused) Y.applyUpdate(copy, refused)
    // Typed roots: a generic AbstractType has no observer, so the undo manager would miss it.
    const scope = this.policy.roots(copy)
    const undo = new Y.UndoManager(scope, { trackedOrigins: new Set([peer]), captureTimeout: 0 })
    try {
      Y.applyUpdate(copy, update, peer)
    } catch (error) {
      undo.destroy()
      copy.destroy()
      throw new MalformedMessageError(`update could not be applied: ${(error as Error).message}`)
    }
    let compensation: Uint8Array | null = null
    copy.on('update', (u: Uint8Array) => {
      compensation = compensation ? Y.mergeUpdates([compensation, u]) : u
    })
    undo.undo()
    undo.destroy()
    deleteNewStructs(copy, update, this.doc)
    copy.destroy()
    if (compensation) peer.socket.send(updateMessage(compensation))
    const reason = this.policy.readOnlyReason
    this.host.metrics?.revert(reason)
    this.notify(peer, {
      type: 'rejected',
      reason,
      issues: [
        { path: '(document)', message: reason === 'read-only' ? 'viewers cannot edit' : 'this document is written by the server only' },
      ],
    })
  }

  /** The reply to a sync step 1 that knows `known`, encoded now (see `sendStep2`). */
  private encodeStep2(known: StateVector): Uint8Array {
    if (this.loadedState === null || known.size > 0) return syncStep2Message(this.doc, Y.encodeStateVector(known))
    // The client parses the stored snapshot; the server parses it meanwhile, once the reply is out.
    this.hydrateSoon(0)
    return encodedStep2Message(this.loadedState)
  }

  /** Sends a step-2 reply once everything it reveals is on disk. */
  private sendStep2(peer: Peer, reply: Uint8Array): void {
    this.whenPersisted(() => {
      if (peer.socket.isOpen() && this.peers.has(peer)) peer.socket.send(reply)
    })
  }

  private handleAwareness(peer: Peer, update: Uint8Array): void {
    let entries: AwarenessEntry[]
    try {
      entries = decodeAwarenessUpdate(update)
    } catch (error) {
      throw new MalformedMessageError(`bad awareness update: ${(error as Error).message}`)
    }
    const owners = this.awarenessOwners()
    const { principal } = peer
    const accepted: AwarenessEntry[] = []
    for (const entry of entries) {
      // What y-protocols would ignore (not newer than what the room has) claims nothing either: a stock
      // provider sends back every awareness change it receives, other clients' states and removals included.
      if (!this.isNewer(entry)) continue
      const owner = owners.get(entry.clientID)
      // Another user's id (announced on a socket still open, or bound to them, see PresenceBindings)
      // is ignored, not closed: a stock client that picked the same random id (1 in 2^32) would
      // reconnect with it after every close, and its document still syncs meanwhile.
      if (owner !== undefined && owner.principal.userId !== principal.userId) continue
      if (!this.host.presence.mayAnnounce(this.docName, entry.clientID, principal.userId)) continue
      if (!peer.awarenessClients.has(entry.clientID) && peer.awarenessClients.size >= LIMITS.MAX_AWARENESS_CLIENTS_PER_CONNECTION) {
        throw new MalformedMessageError('too many awareness client ids on one connection')
      }
      if (entry.state !== null) {
        if (JSON.stringify(entry.state).length > LIMITS.MAX_AWARENESS_STATE_BYTES)
          throw new MalformedMessageError('awareness state too large')
        entry.state = { ...entry.state, user: { id: principal.userId, name: principal.name, color: principal.color } }
      }
      // The same user's new socket (a reconnect before the server saw the old one close) takes the id over.
      if (owner !== undefined && owner !== peer) owner.awarenessClients.delete(entry.clientID)
      peer.awarenessClients.add(entry.clientID)
      this.host.presence.hold(this.docName, entry.clientID, principal.userId)
      accepted.push(entry)
    }
    if (accepted.length > 0) awarenessProtocol.applyAwarenessUpdate(this.awareness, encodeAwarenessUpdate(accepted), peer)
  }

  /** Whether applying `entry` would change the room's awareness (y-protocols' rule). */
  private isNewer({ clientID, clock, state }: AwarenessEntry): boolean {
    const current = this.awareness.meta.get(clientID)?.clock ?? 0
    return current < clock || (current === clock && state === null && this.awareness.states.has(clientID))
  }

  /**
   * Removes the awareness states that their clients stopped renewing `timeoutMs` ago (a
   * client renews its state every half timeout): what y-protocols' interval per document does.
   */
  removeOutdatedAwareness(now: number, timeoutMs: number): void {
    let outdated: number[] | null = null
    for (const [clientID, meta] of this.awareness.meta) {
      if (now - meta.lastUpdated >= timeoutMs && this.awareness.states.has(clientID)) (outdated ??= []).push(clientID)
    }
    if (outdated) awarenessProtocol.removeAwarenessStates(this.awareness, outdated, 'timeout')
  }

  private awarenessOwners(): Map<number, Peer> {
    const owners = new Map<number, Peer>()
    for (const p of this.peers) for (const id of p.awarenessClients) owners.set(id, p)
    return owners
  }

  private handleAwarenessChange({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }): void {
    const changed = [...added, ...updated, ...removed]
    if (changed.length === 0) return
    const message = awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
    for (const peer of this.peers) peer.socket.send(message)
  }

  notify(peer: Peer, notice: ServerNotice): void {
    if (peer.wantsNotices) peer.socket.send(noticeMessage(notice))
  }

  // ---- the write path -----------------------------------------------------------

  private handleDocUpdate(update: Uint8Array, origin: unknown, _doc: Y.Doc, tr: Y.Transaction): void {
    this.loadedState = null
    if (isOrigin(origin) && origin.kind === 'server') this.gate?.accept()
    this.pending.push({
      update,
      origin: isOrigin(origin) ? origin : null,
      author: authorOf(origin),
      changed: this.policy.changedParts(this.doc, tr),
      at: Date.now(),
      seq: ++this.appliedSeq,
      clients: this.clients.introduced(tr, authorOf(origin)),
    })
    this.host.scheduleFlush(this)
  }

  /** Runs `reply` once everything applied so far is on disk. */
  whenPersisted(reply: () => void): void {
    if (this.persistedSeq >= this.appliedSeq) reply()
    else this.held.push({ upTo: this.appliedSeq, reply })
  }

  /** Updates applied but not yet on disk: pending, or being written. */
  get unpersisted(): number {
    return this.appliedSeq - this.persistedSeq
  }

  /** Takes the pending updates for persisting. */
  takePending(): PendingUpdate[] {
    const taken = this.pending
    this.pending = []
    return taken
  }

  /**
   * `persisted` are on disk (batches arrive in the order they were taken, see CommitQueue):
   * broadcast them and release the replies whose state is now on disk.
   */
  committed(persisted: PendingUpdate[]): void {
    if (this.state === 'closed') return
    const last = persisted.at(-1)
    if (last) this.persistedSeq = last.seq
    if (this.peers.size > 0 && persisted.length > 0) {
      const everything = persisted.length === 1 ? persisted[0]!.update : Y.mergeUpdates(persisted.map((p) => p.update))
      const toAll = updateMessage(everything)
      const senders = new Set(persisted.map((p) => p.origin))
      let reached = 0
      for (const peer of this.peers) {
        // Its relay sends it what its owner publishes after this commit.
        if (peer.relayed) continue
        reached++
        if (!senders.has(peer)) {
          peer.socket.send(toAll)
          continue
        }
        // A sender gets only what the others wrote.
        const others = persisted.filter((p) => p.origin !== peer).map((p) => p.update)
        if (others.length > 0) peer.socket.send(updateMessage(others.length === 1 ? others[0]! : Y.mergeUpdates(others)))
      }
      if (reached > 0) this.host.metrics?.broadcast(reached, toAll.byteLength * reached)
    }
    for (const { notices } of persisted) if (notices) this.deliver(notices)
    if (this.held.length === 0) return
    const ready = this.held.filter((h) => h.upTo <= this.persistedSeq)
    this.held = this.held.filter((h) => h.upTo > this.persistedSeq)
    for (const { reply } of ready) reply()
  }

  /** Sends each notice to its user's sockets with notices on, or has the host keep it for their next connection. */
  private deliver(notices: UserNotice[]): void {
    for (const { userId, notice } of notices) {
      let sent = false
      for (const peer of this.peers) {
        if (!peer.wantsNotices || peer.principal.userId !== userId || !peer.socket.isOpen()) continue
        peer.socket.send(noticeMessage(notice))
        sent = true
      }
      if (!sent) this.host.keepNotice?.(this, userId, notice)
    }
  }

  /** Closes every socket and frees the document. */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    for (const peer of this.peers) peer.socket.close(code, reason)
    this.peers.clear()
    this.held = []
    this.pending = []
    this.awaitingStep1 = []
    this.step1.dispose()
    if (this.hydrateTimer) clearTimeout(this.hydrateTimer)
    this.unapplied = null
    this.awareness.destroy()
    this.ydoc.destroy()
  }
}

/**
 * Deletes, in `copy`, whatever `update` inserted that `server` does not have, under any
 * root: the undo manager only sees the document kind's typed roots, a client may write
 * elsewhere (an unknown root of an index or inbox document).
 */
function deleteNewStructs(copy: Y.Doc, update: Uint8Array, server: Y.Doc): void {
  const { structs } = Y.decodeUpdate(update)
  copy.transact((tr) => {
    for (const struct of structs) {
      if (!(struct instanceof Y.Item)) continue
      const { client } = struct.id
      let clock = Math.max(struct.id.clock, Y.getState(server.store, client))
      const end = struct.id.clock + struct.length
      while (clock < end && clock < Y.getState(copy.store, client)) {
        const item = Y.getItem(copy.store, Y.createID(client, clock))
        if (item instanceof Y.Item && !item.deleted) item.delete(tr)
        clock = item.id.clock + item.length
      }
    }
  })
}
