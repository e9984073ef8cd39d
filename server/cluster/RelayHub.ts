/**
 * The relay side (docs/cluster.md, "Relays"): a member holding sockets for a document another
 * member owns. Per document, one subscription to its relays channel feeding a RelayStream, and
 * a Y.Doc built only from what that stream delivers: the committed state, never anything the
 * owner has not written. The relay answers its clients' sync step 1 from it, sends them every
 * committed update in log order, and forwards everything else they send (updates, awareness)
 * to the owner as `relayed`, with the principal it authenticated. A forward that reaches no
 * one means the document has no owner: the client is handed back to the endpoint, which opens
 * the document here (claiming it).
 */
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { CLOSE, MESSAGE } from '../../shared/protocol.js'
import type { Pool } from '../pg/openPool.js'
import type { DocRelays, RelayClient, RelayedConnection } from '../sync/DocRelays.js'
import { syncStep1Message, syncStep2Message, updateMessage } from '../sync/messages.js'
import { MalformedMessageError } from '../sync/Room.js'
import { type StateVector, Step1Pacer } from '../sync/Step1Pacer.js'
import type { Bus } from './Bus.js'
import { type CloseClient, decodeRelaysMessage, encodeBusMessage, referenceOf, type ToClient } from './busMessages.js'
import { unownedDocs } from './liveness.js'
import { RelayStream } from './RelayStream.js'

export interface RelayHubOptions {
  bus: Bus
  /** The stores' pool: a relay's reads of the log (never the membership's, which renews the lease). */
  pool: Pool
  /** This member's id: where the owner sends `toClient`. */
  member: string
  onError: (error: unknown, context: string) => void
  /** How often the documents relayed here are checked for a live owner. @default 1000 */
  sweepEveryMs?: number
}

export class RelayHub implements DocRelays {
  readonly #docs = new Map<string, RelayedDoc>()
  #nextConnection = 1
  #closed = false
  readonly #sweepTimer: NodeJS.Timeout
  #sweeping = false

  constructor(readonly options: RelayHubOptions) {
    this.#sweepTimer = setInterval(() => this.sweep(), options.sweepEveryMs ?? 1000)
    this.#sweepTimer.unref()
  }

  /**
   * Hands back to the endpoint the clients of every document relayed here that no live member
   * owns (its owner died, or released it, while they sent nothing): the endpoint claims it and
   * serves them on the same sockets. Without this, a silent client would wait on a relay to an
   * owner that is gone. One sweep at a time.
   */
  sweep(): Promise<void> {
    const docs = [...this.#docs.values()].filter((doc) => doc.ready).map((doc) => doc.docName)
    if (this.#sweeping || this.#closed || docs.length === 0) return Promise.resolve()
    this.#sweeping = true
    return unownedDocs(this.options.pool, docs)
      .then(
        (unowned) => {
          for (const name of unowned) for (const client of [...(this.#docs.get(name)?.clients.values() ?? [])]) client.handBack()
        },
        (error: unknown) => this.options.onError(error, 'relay sweep'),
      )
      .finally(() => {
        this.#sweeping = false
      })
  }

  relay(docName: string, client: RelayClient): RelayedConnection {
    let doc = this.#docs.get(docName)
    if (!doc) this.#docs.set(docName, (doc = new RelayedDoc(this, docName)))
    return doc.add(this.#nextConnection++, client)
  }

  /** Documents relayed here now (tests, metrics). */
  get size(): number {
    return this.#docs.size
  }

  /** A `toClient` from an owner (this member's direct channel). */
  toClient(message: ToClient): void {
    this.#docs.get(message.doc)?.toClient(message.connection, message.message)
  }

  /** A `closeClient` from an owner: that client's socket is closed with the owner's code. */
  closeClient(message: CloseClient): void {
    this.#docs.get(message.doc)?.clients.get(message.connection)?.close(message.code)
  }

  /** The bus subscribed again after a loss: what was published meanwhile is read from the log. */
  catchUp(): void {
    for (const doc of this.#docs.values()) void doc.stream.catchUp()
  }

  forget(doc: RelayedDoc): void {
    if (this.#docs.get(doc.docName) === doc) this.#docs.delete(doc.docName)
  }

  get closed(): boolean {
    return this.#closed
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#sweepTimer)
    for (const doc of [...this.#docs.values()]) doc.close()
  }
}

/** One document relayed by this member, and its clients here. */
class RelayedDoc {
  readonly ydoc = new Y.Doc({ gc: true })
  readonly stream: RelayStream
  readonly clients = new Map<number, Relayed>()
  /** The first read of the log is delivered: the document holds the committed state. */
  ready = false
  /** Sync step-1 replies within each client's byte budget, as a room paces its own. */
  readonly step1 = new Step1Pacer(
    (known) => syncStep2Message(this.ydoc, Y.encodeStateVector(known)),
    (peer, reply) => peer.socket.send(reply),
  )
  #closed = false
  readonly #onBroadcast: (payload: Buffer) => void

  constructor(
    readonly hub: RelayHub,
    readonly docName: string,
  ) {
    const { pool, onError } = hub.options
    this.stream = new RelayStream(pool, docName, {
      deliver: (update) => this.deliver(update),
      onError: (error) => onError(error, 'relay stream'),
    })
    this.#onBroadcast = (payload) => {
      const message = decodeRelaysMessage(payload)
      if (message.kind === 'broadcast') return this.stream.receive(message)
      // A new owner: the stream reads the log up to its head (what the old owner committed and
      // never announced), and each client is asked for its state: the answer takes to the new
      // owner what the old one received and never committed.
      if (message.last > 0) this.stream.receive(referenceOf(message.last))
      if (this.ready) for (const client of this.clients.values()) client.resync()
    }
    void this.start()
  }

  /** Subscribes before reading the log, so that nothing committed in between escapes. */
  private async start(): Promise<void> {
    const { bus, onError } = this.hub.options
    try {
      await bus.subscribe(this.docName, 'relays', this.#onBroadcast)
      await this.stream.catchUp()
    } catch (error) {
      onError(error, 'relay subscription')
      for (const client of [...this.clients.values()]) client.close()
      return
    }
    if (this.#closed) return
    this.ready = true
    for (const client of this.clients.values()) client.synced()
  }

  add(connection: number, client: RelayClient): Relayed {
    const relayed = new Relayed(this, connection, client)
    this.clients.set(connection, relayed)
    if (this.ready) relayed.synced()
    return relayed
  }

  private deliver(update: Uint8Array): void {
    Y.applyUpdate(this.ydoc, update)
    if (!this.ready) return
    const message = updateMessage(update)
    for (const client of this.clients.values()) client.client.peer.socket.send(message)
  }

  toClient(connection: number, message: Uint8Array): void {
    const relayed = this.clients.get(connection)
    if (!relayed) return
    relayed.client.peer.socket.send(message)
  }

  remove(connection: number): void {
    this.clients.delete(connection)
    if (this.clients.size === 0) this.close()
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.hub.forget(this)
    this.stream.close()
    this.step1.dispose()
    const { bus, onError } = this.hub.options
    bus.unsubscribe(this.docName, 'relays', this.#onBroadcast).catch((error: unknown) => onError(error, 'relay unsubscribe'))
    this.ydoc.destroy()
  }
}

/** One client relayed: its messages forwarded in order, those not yet known to have reached the owner kept. */
class Relayed implements RelayedConnection {
  /** Forwarded, and not yet known to have reached the owner, in order. */
  readonly #inFlight: Uint8Array[] = []
  /** Sync step-1 requests that came before the document held the committed state. */
  #step1: StateVector[] = []
  /** The client's last sync step 1, asked again of the room if the relay lets the client go (its reply may not have been sent). */
  #lastStep1: Uint8Array | null = null
  #gone = false

  constructor(
    readonly doc: RelayedDoc,
    readonly connection: number,
    readonly client: RelayClient,
  ) {}

  handleMessage(data: Uint8Array): void {
    if (this.#gone) return
    const decoder = decoding.createDecoder(data)
    let type: number
    try {
      type = decoding.readVarUint(decoder)
      if (type === MESSAGE.sync && decoding.readVarUint(decoder) === syncProtocol.messageYjsSyncStep1) {
        const known = Y.decodeStateVector(decoding.readVarUint8Array(decoder))
        this.#lastStep1 = data.slice()
        if (this.doc.ready) this.doc.step1.request(this.client.peer, known)
        else this.#step1.push(known)
        return
      }
    } catch (error) {
      throw new MalformedMessageError(error instanceof Error ? error.message : String(error))
    }
    if (type === MESSAGE.auth) return
    if (type !== MESSAGE.sync && type !== MESSAGE.awareness && type !== MESSAGE.queryAwareness)
      throw new MalformedMessageError(`unknown message type ${type}`)
    this.forward(data)
  }

  /** The document holds the committed state: the client is asked for what it has beyond it, and answered. */
  synced(): void {
    if (this.#gone) return
    const { socket } = this.client.peer
    socket.send(syncStep1Message(this.doc.ydoc))
    const waiting = this.#step1
    this.#step1 = []
    for (const known of waiting) this.doc.step1.request(this.client.peer, known)
  }

  /** Asks the client for what it has beyond the committed state (the owner changed). */
  resync(): void {
    if (!this.#gone) this.client.peer.socket.send(syncStep1Message(this.doc.ydoc))
  }

  private forward(data: Uint8Array): void {
    const { bus, member, onError } = this.doc.hub.options
    const message = data.slice()
    this.#inFlight.push(message)
    const payload = encodeBusMessage({
      kind: 'relayed',
      relay: member,
      connection: this.connection,
      wantsNotices: this.client.peer.wantsNotices,
      principal: this.client.peer.principal,
      message,
    })
    bus.publish(this.doc.docName, 'owner', payload).then(
      (count) => {
        if (this.#gone) return
        const at = this.#inFlight.indexOf(message)
        if (count > 0) {
          if (at >= 0) this.#inFlight.splice(at, 1)
          return
        }
        // Nobody owns the document: this message and every one sent after it go to the endpoint.
        this.handBack(at)
      },
      (error: unknown) => {
        // Whether it reached the owner is unknown: the client reconnects and resends what was not committed.
        onError(error, 'relay publish')
        this.close()
      },
    )
  }

  /**
   * No member owns the document: the client goes back to the endpoint, which opens the document
   * here (claiming it), with its messages from `from` on that may not have reached an owner,
   * after its sync request, which the room answers (again, maybe: that is harmless).
   */
  handBack(from = 0): void {
    if (this.#gone) return
    const unsent = [...(this.#lastStep1 ? [this.#lastStep1] : []), ...this.#inFlight.slice(Math.max(0, from))]
    this.detach()
    this.client.ownerless(unsent)
  }

  /**
   * Closes the client's socket, with 1011 (the owner dropped it, or Redis failed) unless the
   * owner said otherwise (1001: it is shutting down); the client reconnects.
   */
  close(code: number = CLOSE.internalError.code): void {
    if (this.#gone) return
    this.leave()
    this.client.peer.socket.close(code, Object.values(CLOSE).find((close) => close.code === code)?.reason ?? '')
  }

  leave(): void {
    if (this.#gone) return
    this.detach()
    const { bus, member, onError } = this.doc.hub.options
    if (this.doc.hub.closed) return
    bus
      .publish(this.doc.docName, 'owner', encodeBusMessage({ kind: 'left', relay: member, connection: this.connection }))
      .catch((error: unknown) => onError(error, 'relay left'))
  }

  private detach(): void {
    this.#gone = true
    this.#inFlight.length = 0
    this.doc.step1.forget(this.client.peer)
    this.doc.remove(this.connection)
  }
}
