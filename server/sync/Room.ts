/**
 * One loaded document and the peers connected to it: the write path of DESIGN.md.
 * A room never sees a WebSocket, only RoomSockets; it never reads tokens.
 */
import * as decoding from 'lib0/decoding'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { type AwarenessEntry, decodeAwarenessUpdate, encodeAwarenessUpdate } from '../../shared/awarenessCodec.js'
import type { DocName } from '../../shared/docNames.js'
import { AUTHORITY, FIELDS, ITEMS, NOTES, typedRoots } from '../../shared/docLayout.js'
import { LIMITS, MESSAGE, type ServerNotice } from '../../shared/protocol.js'
import { RecordGate } from '../authority/recordGate.js'
import type { SyncMetrics } from '../metrics/Metrics.js'
import type { LoadedDoc, StoredUpdate } from '../store/DocStore.js'
import { awarenessMessage, noticeMessage, syncStep1Message, syncStep2Message, updateMessage } from './messages.js'
import { type Origin, type Peer, authorOf, isOrigin, serverOrigin } from './types.js'

/** A message the room could not make sense of; the transport closes the socket with 4400. */
export class MalformedMessageError extends Error {}

export interface PendingUpdate extends StoredUpdate {
  origin: Origin | null
}

/** How a room asks its registry to persist and to let go of it. */
export interface RoomHost {
  /** Persist this room's pending updates at the end of the current event-loop turn. */
  scheduleFlush(room: Room): void
  /** The room has no peers and no users left. */
  onIdle(room: Room): void
  /** Counters of the sync layer (optional). */
  readonly metrics?: SyncMetrics
}

export type RoomState = 'live' | 'closed'

const REVERT = serverOrigin('revert')

export class Room {
  readonly doc: Y.Doc
  readonly awareness: awarenessProtocol.Awareness
  readonly peers = new Set<Peer>()
  state: RoomState = 'live'
  /** Updates applied in memory but not yet on disk (nor sent to anyone). */
  pending: PendingUpdate[] = []
  /** Replies that reveal document state, held until what they reveal is on disk. */
  private held: (() => void)[] = []
  private users = 0
  loggedCount: number
  loggedBytes: number
  private readonly gate: RecordGate | null

  constructor(
    readonly name: DocName,
    readonly docName: string,
    loaded: LoadedDoc,
    private readonly host: RoomHost,
  ) {
    this.doc = new Y.Doc({ gc: true })
    if (loaded.updates.length > 0) Y.applyUpdate(this.doc, Y.mergeUpdates(loaded.updates), serverOrigin('seed'))
    this.loggedCount = loaded.loggedCount
    this.loggedBytes = loaded.loggedBytes
    this.gate = name.kind === 'record' ? new RecordGate(this.doc, name.collection) : null
    this.doc.on('update', this.handleDocUpdate)
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.awareness.setLocalState(null)
    this.awareness.on('update', this.handleAwarenessChange)
  }

  // ---- peers ------------------------------------------------------------------

  addPeer(peer: Peer): void {
    this.peers.add(peer)
    peer.socket.send(syncStep1Message(this.doc))
    const states = [...this.awareness.getStates().keys()]
    if (states.length > 0) peer.socket.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, states)))
  }

  removePeer(peer: Peer): void {
    if (!this.peers.delete(peer)) return
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
      case syncProtocol.messageYjsSyncStep1: {
        const stateVector = decoding.readVarUint8Array(decoder)
        Y.decodeStateVector(stateVector)
        this.whenPersisted(() => {
          if (peer.socket.isOpen() && this.peers.has(peer)) peer.socket.send(syncStep2Message(this.doc, stateVector))
        })
        break
      }
      case syncProtocol.messageYjsSyncStep2:
      case syncProtocol.messageYjsUpdate:
        this.applyPeerUpdate(peer, decoding.readVarUint8Array(decoder))
        break
      default:
        throw new MalformedMessageError(`unknown sync message type ${subType}`)
    }
  }

  private applyPeerUpdate(peer: Peer, update: Uint8Array): void {
    const decoded = Y.decodeUpdate(update)
    if (decoded.structs.length === 0 && decoded.ds.clients.size === 0) return
    this.host.metrics?.updateIn(update.byteLength)
    if (!peer.canWrite) {
      this.convergeReadOnlyPeer(peer, update)
      return
    }
    let transaction: Y.Transaction | null = null
    const capture = (tr: Y.Transaction) => {
      if (tr.origin === peer) transaction = tr
    }
    this.doc.on('afterTransaction', capture)
    try {
      Y.applyUpdate(this.doc, update, peer)
    } finally {
      this.doc.off('afterTransaction', capture)
    }
    if (transaction === null) return
    if (!this.gate) return
    const result = this.gate.check(transaction)
    if (result.revert) {
      this.doc.transact(result.revert, REVERT)
      this.gate.accept()
    }
    if (result.issues.length > 0) {
      const reason = result.issues.some((issue) => issue.reason === 'authority') ? 'authority' : 'invalid'
      this.host.metrics?.revert(reason)
      this.notify(peer, { type: 'rejected', reason, issues: result.issues.map(({ path, message }) => ({ path, message })) })
    }
  }

  /**
   * A peer that may not write (a viewer, or any client on a server-only document) sent
   * an update. Nothing is applied here; the peer gets the compensating update that takes
   * its own copy back to the server's state.
   */
  private convergeReadOnlyPeer(peer: Peer, update: Uint8Array): void {
    const copy = new Y.Doc({ gc: false })
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(this.doc))
    // Typed roots: a generic AbstractType has no observer, so the undo manager would miss it.
    const scope = typedRoots(copy, this.name.kind)
    const undo = new Y.UndoManager(scope, { trackedOrigins: new Set([peer]), captureTimeout: 0 })
    Y.applyUpdate(copy, update, peer)
    let compensation: Uint8Array | null = null
    copy.on('update', (u: Uint8Array) => {
      compensation = compensation ? Y.mergeUpdates([compensation, u]) : u
    })
    undo.undo()
    undo.destroy()
    copy.destroy()
    if (compensation) peer.socket.send(updateMessage(compensation))
    const reason: ServerNotice['reason'] = this.name.kind === 'record' ? 'read-only' : 'server-only'
    this.host.metrics?.revert(reason)
    this.notify(peer, { type: 'rejected', reason, issues: [{ path: '(document)', message: reason === 'read-only' ? 'viewers cannot edit' : 'this document is written by the server only' }] })
  }

  private handleAwareness(peer: Peer, update: Uint8Array): void {
    let entries: AwarenessEntry[]
    try {
      entries = decodeAwarenessUpdate(update)
    } catch (error) {
      throw new MalformedMessageError(`bad awareness update: ${(error as Error).message}`)
    }
    const owners = this.awarenessOwners()
    const accepted: AwarenessEntry[] = []
    for (const entry of entries) {
      const owner = owners.get(entry.clientID)
      if (owner && owner !== peer) continue
      if (entry.state !== null) {
        if (JSON.stringify(entry.state).length > LIMITS.MAX_AWARENESS_STATE_BYTES) throw new MalformedMessageError('awareness state too large')
        const { principal } = peer
        entry.state = { ...entry.state, user: { id: principal.userId, name: principal.name, color: principal.color } }
      }
      peer.awarenessClients.add(entry.clientID)
      accepted.push(entry)
    }
    if (accepted.length > 0) awarenessProtocol.applyAwarenessUpdate(this.awareness, encodeAwarenessUpdate(accepted), peer)
  }

  private awarenessOwners(): Map<number, Peer> {
    const owners = new Map<number, Peer>()
    for (const p of this.peers) for (const id of p.awarenessClients) owners.set(id, p)
    return owners
  }

  private readonly handleAwarenessChange = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
  ) => {
    const changed = [...added, ...updated, ...removed]
    if (changed.length === 0) return
    const message = awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
    for (const peer of this.peers) peer.socket.send(message)
  }

  notify(peer: Peer, notice: ServerNotice): void {
    if (peer.wantsNotices) peer.socket.send(noticeMessage(notice))
  }

  // ---- the write path -----------------------------------------------------------

  private readonly handleDocUpdate = (update: Uint8Array, origin: unknown, _doc: Y.Doc, tr: Y.Transaction) => {
    if (isOrigin(origin) && origin.kind === 'server') this.gate?.accept()
    this.pending.push({
      update,
      origin: isOrigin(origin) ? origin : null,
      author: authorOf(origin),
      changed: changedParts(this.doc, tr),
      at: Date.now(),
    })
    this.host.scheduleFlush(this)
  }

  /** Runs `reply` once everything applied so far is on disk. */
  whenPersisted(reply: () => void): void {
    if (this.pending.length === 0) reply()
    else this.held.push(reply)
  }

  /** Takes the pending updates for persisting. */
  takePending(): PendingUpdate[] {
    const taken = this.pending
    this.pending = []
    return taken
  }

  /** After the registry persisted `persisted`: broadcast them and release held replies. */
  broadcastPersisted(persisted: PendingUpdate[]): void {
    this.loggedCount += persisted.length
    for (const p of persisted) this.loggedBytes += p.update.byteLength
    if (this.peers.size > 0 && persisted.length > 0) {
      const everything = persisted.length === 1 ? persisted[0]!.update : Y.mergeUpdates(persisted.map((p) => p.update))
      const toAll = updateMessage(everything)
      for (const peer of this.peers) {
        const own = persisted.filter((p) => p.origin === peer)
        if (own.length === 0) {
          peer.socket.send(toAll)
        } else if (own.length < persisted.length) {
          const others = persisted.filter((p) => p.origin !== peer).map((p) => p.update)
          peer.socket.send(updateMessage(others.length === 1 ? others[0]! : Y.mergeUpdates(others)))
        }
      }
      this.host.metrics?.broadcast(this.peers.size, toAll.byteLength * this.peers.size)
    }
    const held = this.held
    this.held = []
    for (const reply of held) reply()
  }

  /** Closes every socket and frees the document. */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    for (const peer of this.peers) peer.socket.close(code, reason)
    this.peers.clear()
    this.held = []
    this.pending = []
    this.awareness.destroy()
    this.doc.destroy()
  }
}

/** Which record parts a transaction changed, as history field names. */
function changedParts(doc: Y.Doc, tr: Y.Transaction): string[] {
  const parts = new Set<string>()
  for (const [type, keys] of tr.changed) {
    let root = type as Y.AbstractType<unknown>
    while (root._item !== null) root = root._item.parent as Y.AbstractType<unknown>
    if (root === doc.share.get(FIELDS) && root === type) {
      for (const key of keys) if (key !== null) parts.add(key)
    } else if (root === doc.share.get(NOTES)) parts.add(NOTES)
    else if (root === doc.share.get(ITEMS)) parts.add(ITEMS)
    else if (root === doc.share.get(AUTHORITY) && root === type) {
      for (const key of keys) if (key !== null) parts.add(`${AUTHORITY}.${key}`)
    }
  }
  return [...parts]
}
