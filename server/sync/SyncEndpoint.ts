/**
 * The WebSocket edge: `/sync/<docName>`. Authenticates before any sync message,
 * checks access to the document, adapts ws sockets to RoomSockets and routes
 * messages to rooms. Every exception stops here: a bad message closes only its socket.
 *
 * The socket is accepted before its document is loaded: messages that arrive meanwhile wait,
 * in order, and are handled once the room is live; a document that cannot be loaded closes
 * the socket with 1011.
 *
 * Limits enforced here (values in `LIMITS`, shared/protocol.ts): message size (4413),
 * message rate per connection, connections and documents per user (4429), bytes buffered
 * for a slow reader (the socket is dropped), bytes waiting for a loading document (4429), bytes of sync step-1 replies per connection
 * (spent by its room, see Step1Pacer). Authentication happens during the HTTP upgrade
 * (token or cookie), so no message is ever read from an unauthenticated socket: there
 * is no pre-auth phase to cap. Sessions of open sockets are re-checked every
 * `SESSION_SWEEP_MS`; an expired or revoked one closes all its sockets with 4401. Every
 * socket is checked once per `PING_INTERVAL_MS`: pinged if it sent nothing since the last
 * check, dropped if it answered nothing since it was pinged.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { CLOSE, type CloseKind, LIMITS, type Limits } from '../../shared/protocol.js'
import type { AuthService } from '../auth/AuthService.js'
import type { Principal } from '../auth/types.js'
import type { DropReason } from '../metrics/Metrics.js'
import { credentialOf, tokenOf } from '../auth/credentials.js'
import { FORBIDDEN_ORIGIN, OriginPolicy } from '../auth/OriginPolicy.js'
import { TokenBucket } from '../limits/TokenBucket.js'
import type { Projected } from './CommitQueue.js'
import type { DocRelays, RelayedConnection } from './DocRelays.js'
import { type DocRegistry, NotOwnerError } from './DocRegistry.js'
import { MalformedMessageError, type Room } from './Room.js'
import type { Peer, RoomSocket } from './types.js'

export const SYNC_PATH = '/sync/'

export interface SyncEndpointOptions {
  auth: AuthService
  /** The documents: what a name means (and its policy), and its live room. */
  registry: Pick<DocRegistry<unknown, Projected>, 'resolve' | 'open'>
  onError?: (error: unknown, context: string) => void
  /** Overrides of `LIMITS` (tests tighten them). @default LIMITS */
  limits?: Partial<Limits>
  /** Told when a socket is dropped: no answer to a ping, or too much queued for it. */
  onDropped?: (reason: DropReason) => void
  /** Which pages may open a socket with the session cookie. @default the server's own origin only */
  origins?: OriginPolicy
  /**
   * Serves sockets whose document another process owns (a cluster member). Without it such a
   * socket is closed with 1011 and its client reconnects.
   */
  relays?: DocRelays
}

/**
 * One socket's lifecycle: `loading` while its document loads (messages are queued), `open`
 * once it joined the room (messages are handled), `closing` from then on (nothing is read).
 */
/** A document with open sockets, and the users behind them. */
export interface DocumentInUse {
  doc: string
  sockets: number
  users: { id: string; name: string }[]
}

interface Connection {
  readonly peer: Peer
  readonly ws: WebSocket
  readonly docName: string
  state: 'loading' | 'open' | 'closing'
  /** The document's live room, once loaded. */
  room: Room | null
  /** The relay serving it while another process owns its document (state `open`, room null). */
  relay: RelayedConnection | null
  /** Times in a row its document turned out to be owned elsewhere just after it was found ownerless. */
  reopened: number
  /** Messages received while `loading`, in order, and their bytes. */
  queued: Buffer[]
  queuedBytes: number
  readonly bucket: TokenBucket
  /** When the socket last sent anything (a message, a pong). */
  heardAt: number
  /** Pinged at its last liveness check, and nothing heard since. */
  pinged: boolean
  /** Bytes queued for it when it was last checked after a ping (the ping waits behind them). */
  queuedAtCheck: number
  /** Its share of the liveness checks (see `checkLiveness`). */
  readonly slice: Set<Connection>
}

/** How often a slice of the sockets is checked for liveness (see `checkLiveness`). */
const LIVENESS_TICK_MS = 100

export class SyncEndpoint {
  private readonly wss: WebSocketServer
  /** Open peers by session id, so a logout can close them all. */
  private readonly bySession = new Map<string, Set<Peer>>()
  private readonly connections = new Map<Peer, Connection>()
  private readonly perUser = new Map<string, number>()
  /** Sockets per document of each user, for `MAX_DOCUMENTS_PER_USER`. */
  private readonly docsPerUser = new Map<string, Map<string, number>>()
  private readonly limits: Limits
  private readonly sweepTimer: NodeJS.Timeout
  private readonly livenessTimer: NodeJS.Timeout
  /** The sockets, dealt in turn into slices; one slice is checked per tick, so each once per PING_INTERVAL_MS. */
  private readonly slices: Set<Connection>[]
  private dealt = 0
  private ticks = 0
  private sweeping = false
  private readonly stopListening: () => void
  private readonly origins: OriginPolicy

  constructor(private readonly options: SyncEndpointOptions) {
    this.limits = { ...LIMITS, ...options.limits }
    this.origins = options.origins ?? new OriginPolicy()
    // ws itself refuses only far larger frames (1009); up to that we answer with our own 4413.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.MAX_MESSAGE_BYTES * 16 })
    this.sweepTimer = setInterval(() => this.sweepSessions(), this.limits.SESSION_SWEEP_MS)
    this.sweepTimer.unref()
    const tickMs = Math.min(LIVENESS_TICK_MS, this.limits.PING_INTERVAL_MS / 4)
    this.slices = Array.from({ length: Math.max(1, Math.round(this.limits.PING_INTERVAL_MS / tickMs)) }, () => new Set<Connection>())
    this.livenessTimer = setInterval(
      () => {
        try {
          this.checkLiveness()
        } catch (error) {
          this.options.onError?.(error, 'liveness check')
        }
      },
      Math.max(1, tickMs),
    )
    this.livenessTimer.unref()
    this.stopListening = options.auth.onSessionEnded((sessionId) => this.closeSession(sessionId))
  }

  get connectionCount(): number {
    return this.wss.clients.size
  }

  /** Distinct users with at least one open socket. */
  get usersOnline(): number {
    return this.perUser.size
  }

  /** The documents with the most open sockets, with who is in each (for the admin console). */
  busiestDocuments(limit: number): DocumentInUse[] {
    const byDoc = new Map<string, { sockets: number; users: Map<string, string> }>()
    for (const { peer, docName } of this.connections.values()) {
      let entry = byDoc.get(docName)
      if (!entry) byDoc.set(docName, (entry = { sockets: 0, users: new Map() }))
      entry.sockets++
      entry.users.set(peer.principal.userId, peer.principal.name)
    }
    return [...byDoc]
      .map(([doc, { sockets, users }]) => ({ doc, sockets, users: [...users].map(([id, name]) => ({ id, name })) }))
      .sort((a, b) => b.sockets - a.sockets || (a.doc < b.doc ? -1 : 1))
      .slice(0, limit)
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (!url.pathname.startsWith(SYNC_PATH)) {
      socket.destroy()
      return
    }
    // Cross-site WebSocket hijacking: any page may open a socket that carries the cookie, but
    // the browser names the page's origin; refused before any WebSocket message is exchanged.
    if (credentialOf(req, url)?.via === 'cookie' && !this.origins.allows(req)) {
      refuseUpgrade(socket, 'Forbidden', FORBIDDEN_ORIGIN)
      return
    }
    // The session is looked up before the upgrade is answered: the client sends nothing
    // before the 101, and no socket exists, so no message can be read until the principal is
    // known. Meanwhile the raw socket needs an error listener of its own (Node removed its
    // HTTP one at the upgrade; ws adds one when it takes the socket over).
    socket.on('error', destroyOnError)
    this.options.auth
      .authenticate(tokenOf(req, url))
      .then(
        (principal) =>
          this.upgrade(req, socket, head, (ws) => (principal ? this.handleConnection(ws, url, principal) : closeWith(ws, 'unauthorized'))),
        (error: unknown) => {
          // The session could not be looked up (the database): the socket opens and closes with
          // 1011, as for any server failure, and the client reconnects.
          this.options.onError?.(error, 'authenticate')
          this.upgrade(req, socket, head, (ws) => closeWith(ws, 'internalError'))
        },
      )
      .catch((error: unknown) => {
        this.options.onError?.(error, 'upgrade')
        socket.destroy()
      })
  }

  /** Answers the upgrade (ws refuses it if the client left meanwhile or the endpoint closed) and hands the socket over. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, then: (ws: WebSocket) => void): void {
    socket.off('error', destroyOnError)
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      try {
        then(ws)
      } catch (error) {
        this.options.onError?.(error, 'connection')
        closeWith(ws, 'internalError')
      }
    })
  }

  private handleConnection(ws: WebSocket, url: URL, principal: Principal): void {
    ws.binaryType = 'nodebuffer'
    // The name is resolved as sent and that same string is opened: never decoded. Stock providers
    // do not encode names and ids are [A-Za-z0-9_-], so a percent-encoded name is no document of
    // ours (4404). Decoding it for the check let `o%6B1` pass as `ok1` while the registry opened
    // the raw name and threw (1011, which providers take as "reconnect", and an error logged each
    // time); `%ZZ` threw in the decoding itself.
    const docName = url.pathname.slice(SYNC_PATH.length)
    const resolved = this.options.registry.resolve(docName)
    if (!resolved) return closeWith(ws, 'notFound')
    const { policy } = resolved
    if (!policy.mayOpen(principal)) return closeWith(ws, 'forbidden')

    if ((this.perUser.get(principal.userId) ?? 0) >= this.limits.MAX_CONNECTIONS_PER_USER) return closeWith(ws, 'rateLimited')
    // Every document held open stays loaded: one account may not pin the whole workspace in memory.
    const docs = this.docsPerUser.get(principal.userId)
    if (docs && !docs.has(docName) && docs.size >= this.limits.MAX_DOCUMENTS_PER_USER) return closeWith(ws, 'rateLimited')

    const peer: Peer = {
      kind: 'peer',
      socket: new WsRoomSocket(ws, this.limits.MAX_BUFFERED_BYTES, this.options.onDropped),
      principal,
      canWrite: policy.mayWrite(principal),
      wantsNotices: url.searchParams.get('notices') === '1',
      awarenessClients: new Set(),
      replyBudget: new TokenBucket(this.limits.STEP1_REPLY_BYTES_PER_SECOND, this.limits.STEP1_REPLY_BURST_BYTES),
    }
    const connection: Connection = {
      peer,
      ws,
      docName,
      state: 'loading',
      room: null,
      relay: null,
      reopened: 0,
      queued: [],
      queuedBytes: 0,
      bucket: new TokenBucket(this.limits.MAX_MESSAGES_PER_SECOND, this.limits.MESSAGE_BURST),
      heardAt: Date.now(),
      pinged: false,
      queuedAtCheck: 0,
      slice: this.slices[this.dealt++ % this.slices.length]!,
    }
    // Counted from now: a socket waiting for its document holds its share of the per-user limits.
    this.track(connection)

    // Per-socket code is anonymous closures and class methods only: a named closure costs
    // a property table per socket once tsx keeps function names (esbuild `keepNames`).
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (connection.state === 'closing' || connection.room?.state === 'closed') return
      heard(connection)
      if (!connection.bucket.take()) return closeConnection(connection, ws, 'rateLimited')
      if (data.length > this.limits.MAX_MESSAGE_BYTES) return closeConnection(connection, ws, 'tooLarge')
      if (!isBinary && data.length === 0) return
      this.options.auth.touch(principal.sessionId)
      if (connection.room) this.deliver(connection, connection.room, data)
      else if (connection.relay) this.relayMessage(connection, connection.relay, data)
      else this.queue(connection, data)
    })
    ws.on('close', () => {
      connection.state = 'closing'
      connection.queued = []
      this.untrack(connection)
      connection.room?.removePeer(peer)
      connection.relay?.leave()
    })
    ws.on('pong', () => heard(connection))
    ws.on('error', () => ws.terminate())
    this.openDoc(connection)
  }

  /** Opens the connection's document: it joins the room, or a relay when another process owns the document. */
  private openDoc(connection: Connection): void {
    this.options.registry.open(connection.docName).then(
      (room) => this.join(connection, room),
      (error: unknown) => {
        const { relays } = this.options
        if (relays && error instanceof NotOwnerError && error.refusal.reason === 'held') return this.startRelay(connection, relays)
        this.options.onError?.(error, 'load')
        closeConnection(connection, connection.ws, 'internalError')
      },
    )
  }

  /**
   * Serves the connection through a relay; the messages it sent meanwhile go there in order.
   * If the owner is gone, the document is opened again here (which claims it); a claim refused
   * again (another process got there first) relays again, after a growing pause.
   */
  private startRelay(connection: Connection, relays: DocRelays): void {
    if (connection.state === 'closing') return
    const relay = relays.relay(connection.docName, {
      peer: connection.peer,
      ownerless: (unsent) => {
        if (connection.relay !== relay) return
        connection.relay = null
        connection.state = 'loading'
        connection.queued = [...unsent.map((u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength)), ...connection.queued]
        const pauseMs = connection.reopened === 0 ? 0 : Math.min(1000, 10 * 2 ** connection.reopened)
        connection.reopened++
        setTimeout(() => {
          if (connection.state === 'loading') this.openDoc(connection)
        }, pauseMs).unref()
      },
    })
    connection.relay = relay
    connection.state = 'open'
    const queued = connection.queued
    connection.queued = []
    connection.queuedBytes = 0
    for (const data of queued) {
      if (connection.state !== 'open' || connection.relay !== relay) break
      this.relayMessage(connection, relay, data)
    }
  }

  private relayMessage(connection: Connection, relay: RelayedConnection, data: Buffer): void {
    try {
      relay.handleMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    } catch (error) {
      this.closeOnError(connection, error)
    }
  }

  /** The connection's document is live: it joins the room, then the messages it sent meanwhile are handled in order. */
  private join(connection: Connection, room: Room): void {
    // Closed while the document loaded: it never joins (the registry unloads a room nobody took).
    if (connection.state === 'closing') return
    // Dropped between loading and now (a failing store): as if it had been closed with the room.
    if (room.state === 'closed') return closeConnection(connection, connection.ws, 'internalError')
    connection.room = room
    connection.state = 'open'
    connection.reopened = 0
    room.addPeer(connection.peer)
    const queued = connection.queued
    connection.queued = []
    for (const data of queued) {
      // Closed by an earlier message (or with the room): the rest is not read.
      if (connection.state !== 'open' || !room.peers.has(connection.peer)) break
      this.deliver(connection, room, data)
    }
  }

  /**
   * Keeps a message that came before the document was loaded. The token bucket and the size
   * limit bound each message and their rate; their bytes are bounded as a slow reader's are
   * (`MAX_BUFFERED_BYTES`), past which the socket is closed with 4429.
   */
  private queue(connection: Connection, data: Buffer): void {
    connection.queuedBytes += data.length
    if (connection.queuedBytes > this.limits.MAX_BUFFERED_BYTES) return closeConnection(connection, connection.ws, 'rateLimited')
    connection.queued.push(data)
  }

  private deliver(connection: Connection, room: Room, data: Buffer): void {
    try {
      room.handleMessage(connection.peer, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    } catch (error) {
      this.closeOnError(connection, error)
    }
  }

  private closeOnError(connection: Connection, error: unknown): void {
    if (error instanceof MalformedMessageError) closeConnection(connection, connection.ws, 'malformed')
    else {
      this.options.onError?.(error, 'message')
      closeConnection(connection, connection.ws, 'internalError')
    }
  }

  /** Closes every socket of a session with 4401 (logout, expiry, revocation). */
  closeSession(sessionId: string): void {
    for (const peer of this.bySession.get(sessionId) ?? []) {
      const connection = this.connections.get(peer)
      if (connection) connection.state = 'closing'
      peer.socket.close(CLOSE.unauthorized.code, 'Session ended')
    }
  }

  /**
   * Closes the sockets of sessions that expired or were revoked since they connected (here or
   * by another process on the database). One sweep at a time: a slow database skips ticks
   * rather than stacking queries.
   */
  private sweepSessions(): void {
    if (this.sweeping) return
    const open = [...this.bySession.keys()]
    if (open.length === 0) return
    this.sweeping = true
    this.options.auth
      .liveSessions(open)
      .then(
        (live) => {
          for (const sessionId of open) if (!live.has(sessionId)) this.closeSession(sessionId)
        },
        (error: unknown) => this.options.onError?.(error, 'session sweep'),
      )
      .finally(() => {
        this.sweeping = false
      })
  }

  /**
   * Checks one slice of the sockets: pings those that sent nothing since the slice's last check
   * (one interval ago) and drops those pinged then that answered nothing since, unless the
   * bytes queued ahead of the ping are still going out (a slow link, a large first sync).
   * A client that vanished without closing (a laptop asleep, a lost network) is dropped 2 to 3
   * intervals after its last message, instead of keeping its socket, its share of the per-user
   * limit and its room for as long as the TCP connection looks alive. (Its presence goes
   * sooner: awareness states not renewed for 30 s are removed.) Slices, not all sockets at
   * once: 10,000 sockets opened together would otherwise be pinged in one turn of the loop.
   */
  private checkLiveness(): void {
    const now = Date.now()
    for (const connection of this.slices[this.ticks++ % this.slices.length]!) {
      if (connection.state === 'closing') continue
      if (connection.pinged) {
        const queued = connection.ws.bufferedAmount
        if (queued > 0 && queued < connection.queuedAtCheck) {
          connection.queuedAtCheck = queued
          continue
        }
        connection.state = 'closing'
        connection.ws.terminate()
        this.options.onDropped?.('unresponsive')
      } else if (now - connection.heardAt >= this.limits.PING_INTERVAL_MS) {
        connection.pinged = true
        connection.queuedAtCheck = Infinity
        connection.ws.ping()
      }
    }
  }

  /** Sessions with open sockets (for periodic expiry checks). */
  openSessions(): string[] {
    return [...this.bySession.keys()]
  }

  private track(connection: Connection): void {
    const { peer } = connection
    let set = this.bySession.get(peer.principal.sessionId)
    if (!set) this.bySession.set(peer.principal.sessionId, (set = new Set()))
    set.add(peer)
    this.connections.set(peer, connection)
    connection.slice.add(connection)
    this.perUser.set(peer.principal.userId, (this.perUser.get(peer.principal.userId) ?? 0) + 1)
    let docs = this.docsPerUser.get(peer.principal.userId)
    if (!docs) this.docsPerUser.set(peer.principal.userId, (docs = new Map()))
    docs.set(connection.docName, (docs.get(connection.docName) ?? 0) + 1)
  }

  private untrack(connection: Connection): void {
    const { peer } = connection
    if (!this.connections.delete(peer)) return
    connection.slice.delete(connection)
    const set = this.bySession.get(peer.principal.sessionId)
    set?.delete(peer)
    if (set?.size === 0) this.bySession.delete(peer.principal.sessionId)
    const count = (this.perUser.get(peer.principal.userId) ?? 1) - 1
    if (count > 0) this.perUser.set(peer.principal.userId, count)
    else this.perUser.delete(peer.principal.userId)
    const docs = this.docsPerUser.get(peer.principal.userId)
    const sockets = (docs?.get(connection.docName) ?? 1) - 1
    if (sockets > 0) docs?.set(connection.docName, sockets)
    else docs?.delete(connection.docName)
    if (docs?.size === 0) this.docsPerUser.delete(peer.principal.userId)
  }

  close(): Promise<void> {
    clearInterval(this.sweepTimer)
    clearInterval(this.livenessTimer)
    this.stopListening()
    for (const ws of this.wss.clients) closeWith(ws, 'shuttingDown')
    return new Promise((resolve) => this.wss.close(() => resolve()))
  }
}

function destroyOnError(this: Duplex): void {
  this.destroy()
}

function heard(connection: Connection): void {
  connection.heardAt = Date.now()
  connection.pinged = false
}

/** Stops reading a connection's messages and closes its socket. */
function closeConnection(connection: Connection, ws: WebSocket, kind: CloseKind): void {
  connection.state = 'closing'
  closeWith(ws, kind)
}

/** Answers an upgrade with a plain HTTP error in the API's JSON format and drops the connection. */
function refuseUpgrade(
  socket: Duplex,
  statusText: string,
  { status, code, message }: { status: number; code: string; message: string },
): void {
  const body = JSON.stringify({ error: { code, message } })
  socket.once('finish', () => socket.destroy())
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

function closeWith(ws: WebSocket, kind: CloseKind): void {
  const { code, reason } = CLOSE[kind]
  closeSocket(ws, code, reason)
}

function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason)
}

/** One options object for every send. */
const BINARY = { binary: true } as const

/**
 * A slow reader must not make the server buffer without limit: past `maxBufferedBytes`
 * queued, the socket is dropped (the client resyncs from its state vector on reconnect).
 * A class, not an object of closures: one of these lives per socket.
 */
class WsRoomSocket implements RoomSocket {
  constructor(
    private readonly ws: WebSocket,
    private readonly maxBufferedBytes: number,
    private readonly onDropped?: (reason: DropReason) => void,
  ) {}

  isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN
  }

  send(data: Uint8Array): void {
    const { ws } = this
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > this.maxBufferedBytes) {
      ws.terminate()
      this.onDropped?.('slow')
      return
    }
    ws.send(data, BINARY)
  }

  close(code: number, reason: string): void {
    closeSocket(this.ws, code, reason)
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount
  }
}
