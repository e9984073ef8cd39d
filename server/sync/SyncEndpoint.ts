/**
 * The WebSocket edge: `/sync/<docName>`. Authenticates before any sync message,
 * checks access to the document, adapts ws sockets to RoomSockets and routes
 * messages to rooms. Every exception stops here: a bad message closes only its socket.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { parseDocName, type DocName } from '../../shared/docNames.js'
import { CLOSE, type CloseKind, LIMITS } from '../../shared/protocol.js'
import type { AuthService } from '../auth/AuthService.js'
import { tokenOf } from '../http/authenticate.js'
import type { DocRegistry } from './DocRegistry.js'
import { MalformedMessageError } from './Room.js'
import type { Peer, Principal, RoomSocket } from './types.js'

export const SYNC_PATH = '/sync/'

export interface SyncEndpointOptions {
  auth: AuthService
  registry: DocRegistry
  onError?: (error: unknown, context: string) => void
}

export class SyncEndpoint {
  private readonly wss: WebSocketServer
  /** Open peers by session id, so a logout can close them all. */
  private readonly bySession = new Map<string, Set<Peer>>()

  constructor(private readonly options: SyncEndpointOptions) {
    // ws itself refuses only far larger frames (1009); up to that we answer with our own 4413.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: LIMITS.MAX_MESSAGE_BYTES * 16 })
  }

  get connectionCount(): number {
    return this.wss.clients.size
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (!url.pathname.startsWith(SYNC_PATH)) {
      socket.destroy()
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      try {
        this.handleConnection(ws, req, url)
      } catch (error) {
        this.options.onError?.(error, 'connection')
        closeWith(ws, 'internalError')
      }
    })
  }

  private handleConnection(ws: WebSocket, req: IncomingMessage, url: URL): void {
    ws.binaryType = 'nodebuffer'
    const principal = this.options.auth.authenticate(tokenOf(req, url))
    if (!principal) return closeWith(ws, 'unauthorized')
    const parsed = parseDocName(decodeURIComponent(url.pathname.slice(SYNC_PATH.length)))
    if (!parsed.ok) return closeWith(ws, 'notFound')
    const name = parsed.name
    if (name.workspace !== principal.workspace) return closeWith(ws, 'forbidden')
    if (name.kind === 'inbox' && name.userId !== principal.userId) return closeWith(ws, 'forbidden')

    const docName = url.pathname.slice(SYNC_PATH.length)
    const room = this.options.registry.open(docName)
    const peer: Peer = {
      kind: 'peer',
      socket: adaptSocket(ws),
      principal,
      canWrite: canWrite(principal, name),
      wantsNotices: url.searchParams.get('notices') === '1',
      awarenessClients: new Set(),
    }
    this.track(peer)

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (room.state === 'closed') return
      if (!isBinary && data.length === 0) return
      if (data.length > LIMITS.MAX_MESSAGE_BYTES) return closeWith(ws, 'tooLarge')
      try {
        room.handleMessage(peer, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      } catch (error) {
        if (error instanceof MalformedMessageError) closeWith(ws, 'malformed')
        else {
          this.options.onError?.(error, 'message')
          closeWith(ws, 'internalError')
        }
      }
    })
    ws.on('close', () => {
      this.untrack(peer)
      room.removePeer(peer)
    })
    ws.on('error', () => ws.terminate())
    room.addPeer(peer)
  }

  /** Closes every socket of a session with 4401 (logout, expiry, revocation). */
  closeSession(sessionId: string): void {
    for (const peer of this.bySession.get(sessionId) ?? []) peer.socket.close(CLOSE.unauthorized.code, 'Session ended')
  }

  /** Sessions with open sockets (for periodic expiry checks). */
  openSessions(): string[] {
    return [...this.bySession.keys()]
  }

  private track(peer: Peer): void {
    let set = this.bySession.get(peer.principal.sessionId)
    if (!set) this.bySession.set(peer.principal.sessionId, (set = new Set()))
    set.add(peer)
  }

  private untrack(peer: Peer): void {
    const set = this.bySession.get(peer.principal.sessionId)
    set?.delete(peer)
    if (set?.size === 0) this.bySession.delete(peer.principal.sessionId)
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) closeWith(ws, 'shuttingDown')
    return new Promise((resolve) => this.wss.close(() => resolve()))
  }
}

function canWrite(principal: Principal, name: DocName): boolean {
  return name.kind === 'record' && principal.role !== 'viewer'
}

function closeWith(ws: WebSocket, kind: CloseKind): void {
  const { code, reason } = CLOSE[kind]
  if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason)
}

function adaptSocket(ws: WebSocket): RoomSocket {
  return {
    isOpen: () => ws.readyState === ws.OPEN,
    send: (data) => {
      if (ws.readyState !== ws.OPEN) return
      if (ws.bufferedAmount > LIMITS.MAX_BUFFERED_BYTES) {
        ws.terminate()
        return
      }
      ws.send(data, { binary: true })
    },
    close: (code, reason) => {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason)
    },
    bufferedAmount: () => ws.bufferedAmount,
  }
}
