/**
 * The owner side of relays (docs/cluster.md, "Relays"): while a document is loaded here (so
 * this member owns it), its owner channel is subscribed, and each client relayed by another
 * member is a peer of the room like a socket of this member's: its updates go through the
 * same write path (role checked here, applied, checked by the gate, reverted, committed
 * fenced, then broadcast and published), and what the room sends that peer alone (a viewer's
 * compensation, a notice, awareness) goes back to its relay as `toClient`. Committed updates
 * reach it through its relay's stream, never from here (`Peer.relayed`).
 */
import { CLOSE, LIMITS } from '../../shared/protocol.js'
import type { Principal } from '../auth/types.js'
import { TokenBucket } from '../limits/TokenBucket.js'
import type { LoadHook } from '../sync/DocRegistry.js'
import { MalformedMessageError, type Room } from '../sync/Room.js'
import type { Peer, RoomSocket } from '../sync/types.js'
import type { Pool } from '../pg/openPool.js'
import type { Bus } from './Bus.js'
import { CALL_OUTCOME, decodeBusMessage, encodeBusMessage, type Relayed } from './busMessages.js'
import type { CallForwarder, RunCall } from './CallForwarder.js'
import { liveMembers } from './liveness.js'

export interface OwnerEndOptions {
  bus: Bus
  onError: (error: unknown, context: string) => void
  /** Runs the calls other members send to the documents loaded here (CallForwarder). */
  calls?: { forwarder: CallForwarder; run: RunCall }
  /** Where the relays' leases are read (the stores' pool): a relay whose lease ended is gone with its clients. */
  pool?: Pool
  /** How often the relays of the clients here are checked. @default 1000 */
  sweepEveryMs?: number
}

/**
 * How long a load waits for its owner channel's subscription. Relays publishing before it is
 * confirmed reach no one, try to claim, are refused and publish again, so it need not wait
 * for ever: with Redis down, the owner still serves its own sockets.
 */
const SUBSCRIBE_WAIT_MS = 1000

export class OwnerEnd<N> {
  /** The relayed peers of each loaded room, by relay and connection. */
  readonly #peers = new Map<Room<N>, Map<string, Peer>>()
  readonly #sweepTimer: NodeJS.Timeout | undefined
  #sweeping = false

  constructor(private readonly options: OwnerEndOptions) {
    if (options.pool) {
      this.#sweepTimer = setInterval(() => void this.sweep(), options.sweepEveryMs ?? 1000)
      this.#sweepTimer.unref()
    }
  }

  /**
   * Removes the clients of relays whose lease ended (the member died, so their `left` never
   * came), with their presence, even if nothing is ever sent to them. One sweep at a time.
   */
  sweep(): Promise<void> {
    const relays = new Set<string>()
    for (const peers of this.#peers.values()) for (const peer of peers.values()) relays.add((peer.socket as RelayedSocket).relay)
    const { pool, onError } = this.options
    if (this.#sweeping || !pool || relays.size === 0) return Promise.resolve()
    this.#sweeping = true
    return liveMembers(pool, [...relays])
      .then(
        (live) => {
          for (const relay of relays) if (!live.has(relay)) this.relayGone(relay)
        },
        (error: unknown) => onError(error, 'relayed clients sweep'),
      )
      .finally(() => {
        this.#sweeping = false
      })
  }

  /** Stops the sweeps (the member is stopping). */
  close(): void {
    clearInterval(this.#sweepTimer)
  }

  /** The registry's load hook: the room goes live once its owner channel is subscribed (or a second passed). */
  readonly onLoad: LoadHook<N> = async (room) => {
    const { bus, onError } = this.options
    const peers = new Map<string, Peer>()
    this.#peers.set(room, peers)
    const handler = (payload: Buffer) => this.receive(room, peers, payload)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      bus.subscribe(room.docName, 'owner', handler).catch((error: unknown) => onError(error, 'owner subscribe')),
      new Promise((resolve) => {
        timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS)
      }),
    ])
    clearTimeout(timer)
    return () => {
      this.#peers.delete(room)
      for (const peer of [...peers.values()]) peer.socket.close(CLOSE.internalError.code, CLOSE.internalError.reason)
      bus.unsubscribe(room.docName, 'owner', handler).catch((error: unknown) => this.options.onError(error, 'owner unsubscribe'))
    }
  }

  /** Relayed peers in every room (tests). */
  get size(): number {
    let n = 0
    for (const peers of this.#peers.values()) n += peers.size
    return n
  }

  private receive(room: Room<N>, peers: Map<string, Peer>, payload: Buffer): void {
    const message = decodeBusMessage(payload)
    if (message.kind === 'call') {
      const { calls, bus, onError } = this.options
      // Dropped, not yet unsubscribed: the caller claims the document or asks again.
      if (room.state === 'closed' || !calls)
        bus
          .send(message.caller, encodeBusMessage({ kind: 'answer', id: message.id, outcome: CALL_OUTCOME.notOwner, body: '' }))
          .catch((error: unknown) => onError(error, 'call answer'))
      else calls.forwarder.serve(room.docName, message, calls.run)
      return
    }
    if (room.state === 'closed') {
      // Dropped, not yet unsubscribed: the client reconnects and resends what was not committed.
      if (message.kind === 'relayed') this.socketOf(room, message).close(CLOSE.internalError.code)
      return
    }
    if (message.kind === 'left') {
      const peer = peers.get(keyOf(message.relay, message.connection))
      if (peer) this.remove(room, peers, peer)
      return
    }
    if (message.kind !== 'relayed') throw new Error(`a ${message.kind} message on an owner channel`)
    const peer = peers.get(keyOf(message.relay, message.connection)) ?? this.join(room, peers, message)
    if (!peer) return
    try {
      room.handleMessage(peer, message.message)
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) this.options.onError(error, 'relayed message')
      this.remove(room, peers, peer)
    }
  }

  /** A relayed client's first message: it becomes a peer with what its principal may do here. */
  private join(room: Room<N>, peers: Map<string, Peer>, { relay, connection, principal, wantsNotices }: Relayed): Peer | undefined {
    const socket = this.socketOf(room, { relay, connection })
    if (!room.policy.mayOpen(principal)) {
      socket.close(CLOSE.internalError.code)
      return undefined
    }
    const peer = relayedPeer(socket, principal, room.policy.mayWrite(principal), wantsNotices)
    peers.set(keyOf(relay, connection), peer)
    room.addPeer(peer)
    return peer
  }

  private socketOf(room: Room<N>, { relay, connection }: { relay: string; connection: number }): RelayedSocket {
    return new RelayedSocket(this.options, room.docName, relay, connection, () => this.relayGone(relay))
  }

  /** Closes the client's socket at its relay and forgets it. */
  private remove(room: Room<N>, peers: Map<string, Peer>, peer: Peer): void {
    const socket = peer.socket as RelayedSocket
    peers.delete(keyOf(socket.relay, socket.connection))
    socket.close(CLOSE.internalError.code)
    room.removePeer(peer)
  }

  /** A `toClient` reached no one: that relay is gone, and so are its clients. */
  private relayGone(relay: string): void {
    for (const [room, peers] of this.#peers) {
      for (const peer of [...peers.values()]) {
        const socket = peer.socket as RelayedSocket
        if (socket.relay !== relay) continue
        peers.delete(keyOf(relay, socket.connection))
        socket.gone()
        room.removePeer(peer)
      }
    }
  }
}

const keyOf = (relay: string, connection: number) => `${relay}\n${connection}`

function relayedPeer(socket: RoomSocket, principal: Principal, canWrite: boolean, wantsNotices: boolean): Peer {
  return {
    kind: 'peer',
    socket,
    principal,
    canWrite,
    wantsNotices,
    awarenessClients: new Set(),
    replyBudget: new TokenBucket(LIMITS.STEP1_REPLY_BYTES_PER_SECOND, LIMITS.STEP1_REPLY_BURST_BYTES),
    relayed: true,
  }
}

/** A relayed client's socket as the room sees it: what is sent goes to its relay as `toClient`. */
class RelayedSocket implements RoomSocket {
  #open = true

  constructor(
    private readonly options: OwnerEndOptions,
    readonly doc: string,
    readonly relay: string,
    readonly connection: number,
    private readonly onRelayGone: () => void,
  ) {}

  isOpen(): boolean {
    return this.#open
  }

  send(data: Uint8Array): void {
    if (!this.#open) return
    this.#toRelay(encodeBusMessage({ kind: 'toClient', doc: this.doc, connection: this.connection, message: data }))
  }

  /**
   * Tells the relay to close the client's socket with `code` (the room closed it: 1001 when this
   * member is shutting down; or its message was refused).
   */
  close(code: number): void {
    if (!this.#open) return
    this.#toRelay(encodeBusMessage({ kind: 'closeClient', doc: this.doc, connection: this.connection, code }))
    this.#open = false
  }

  #toRelay(payload: Uint8Array): void {
    const { bus, onError } = this.options
    bus.send(this.relay, payload).then(
      (count) => {
        if (count === 0) this.onRelayGone()
      },
      (error: unknown) => onError(error, 'toClient'),
    )
  }

  /** Its relay is gone: nothing more is sent. */
  gone(): void {
    this.#open = false
  }

  bufferedAmount(): number {
    return 0
  }
}
