/**
 * Room tests without sockets: a RoomSocket that records what the room sends, a peer
 * built on it, and a client document that reads those messages as y-websocket would.
 */
import { TokenBucket } from '../../server/limits/TokenBucket.js'
import { LIMITS } from '../../shared/protocol.js'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { MESSAGE, type ServerNotice } from '../../shared/protocol.js'
import type { Room } from '../../server/sync/Room.js'
import type { Role } from '../../server/auth/types.js'
import type { Peer, RoomSocket } from '../../server/sync/types.js'
import { syncStep1, updateMessage } from './trust.js'

/** A message the room sent, decoded. */
export type Received =
  | { type: 'step1'; stateVector: Uint8Array }
  | { type: 'step2' | 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'notice'; notice: ServerNotice }

export function decodeMessage(data: Uint8Array): Received {
  const decoder = decoding.createDecoder(data)
  const type = decoding.readVarUint(decoder)
  switch (type) {
    case MESSAGE.sync: {
      const sub = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      if (sub === syncProtocol.messageYjsSyncStep1) return { type: 'step1', stateVector: payload }
      if (sub === syncProtocol.messageYjsSyncStep2) return { type: 'step2', update: payload }
      if (sub === syncProtocol.messageYjsUpdate) return { type: 'update', update: payload }
      throw new Error(`unknown sync message ${sub}`)
    }
    case MESSAGE.awareness:
      return { type: 'awareness', update: decoding.readVarUint8Array(decoder) }
    case MESSAGE.notice:
      return { type: 'notice', notice: JSON.parse(decoding.readVarString(decoder)) as ServerNotice }
    default:
      throw new Error(`unknown message type ${type}`)
  }
}

/** A RoomSocket that records what is sent and how it was closed. */
export class FakeSocket implements RoomSocket {
  readonly sent: Uint8Array[] = []
  closed: { code: number; reason: string } | null = null
  /** What `bufferedAmount` reports (a test sets it to play a slow client). */
  buffered = 0

  isOpen(): boolean {
    return this.closed === null
  }

  send(data: Uint8Array): void {
    if (this.isOpen()) this.sent.push(data)
  }

  close(code: number, reason: string): void {
    this.closed ??= { code, reason }
  }

  bufferedAmount(): number {
    return this.buffered
  }
}

/**
 * A connected client: its peer (the room's view of it) and its own copy of the document,
 * which applies the sync messages the room sent, in order, when `receive` is called.
 */
export class TestClient {
  readonly socket = new FakeSocket()
  readonly peer: Peer
  readonly doc = new Y.Doc()
  /** Every message handed to `receive`, decoded. */
  readonly received: Received[] = []
  private read = 0

  constructor(role: Role, userId = `${role}-1`) {
    this.peer = {
      kind: 'peer',
      socket: this.socket,
      principal: {
        userId,
        email: `${userId}@acme.test`,
        name: userId,
        color: '#123456',
        role,
        workspace: 'acme',
        sessionId: `s-${userId}`,
      },
      canWrite: role !== 'viewer',
      wantsNotices: true,
      awarenessClients: new Set(),
      replyBudget: new TokenBucket(LIMITS.STEP1_REPLY_BYTES_PER_SECOND, LIMITS.STEP1_REPLY_BURST_BYTES),
    }
  }

  /** Joins `room` and sends its sync step 1 (what a provider does on open). */
  join(room: Room): void {
    room.addPeer(this.peer)
    room.handleMessage(this.peer, syncStep1(this.doc))
  }

  /** Sends the update `change` makes to this client's copy, as a provider would. */
  edit(room: Room, change: (doc: Y.Doc) => void): void {
    const sv = Y.encodeStateVector(this.doc)
    change(this.doc)
    room.handleMessage(this.peer, updateMessage(Y.encodeStateAsUpdate(this.doc, sv)))
  }

  /** Reads the messages sent since the last call, applies their updates, and returns them. */
  receive(): Received[] {
    const fresh = this.socket.sent.slice(this.read).map(decodeMessage)
    this.read = this.socket.sent.length
    for (const message of fresh)
      if (message.type === 'step2' || message.type === 'update') Y.applyUpdate(this.doc, message.update, 'server')
    this.received.push(...fresh)
    return fresh
  }
}
