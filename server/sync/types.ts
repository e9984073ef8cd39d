/** What the sync layer knows of a connection and of who made a change. */
import type { Principal } from '../auth/types.js'
import type { TokenBucket } from '../limits/TokenBucket.js'

/** The three things a room needs of a socket (tldraw's shape). */
export interface RoomSocket {
  isOpen(): boolean
  send(data: Uint8Array): void
  close(code: number, reason: string): void
  /** Bytes queued but not yet sent. */
  bufferedAmount(): number
}

/** A client connected to a room. Its object identity is the Yjs transaction origin of its updates. */
export interface Peer {
  readonly kind: 'peer'
  readonly socket: RoomSocket
  readonly principal: Principal
  readonly canWrite: boolean
  /** Whether the client asked for notice messages (`?notices=1`). */
  readonly wantsNotices: boolean
  /** Awareness client ids this peer has announced. */
  readonly awarenessClients: Set<number>
  /** Bytes of sync step-1 replies this connection may be sent (`STEP1_REPLY_*` in LIMITS). */
  readonly replyBudget: TokenBucket
  /**
   * A client whose socket is on another process (a cluster member's relay): that process sends
   * it the committed updates and syncs it, so the room sends it neither its sync step 1 nor
   * its broadcasts; everything else it sends the peer is for that one client.
   */
  readonly relayed?: boolean
}

/** The origin of a change the server makes itself. */
export interface ServerOrigin {
  readonly kind: 'server'
  /** The user on whose behalf (a REST write), or null (the authority). */
  readonly author: string | null
  readonly reason: 'api' | 'authority' | 'revert' | 'repair' | 'index' | 'inbox' | 'seed'
}

export const serverOrigin = (reason: ServerOrigin['reason'], author: string | null = null): ServerOrigin => ({
  kind: 'server',
  author,
  reason,
})

export type Origin = Peer | ServerOrigin

export function isOrigin(value: unknown): value is Origin {
  return typeof value === 'object' && value !== null && ((value as Origin).kind === 'peer' || (value as Origin).kind === 'server')
}

export function authorOf(origin: unknown): string | null {
  if (!isOrigin(origin)) return null
  return origin.kind === 'peer' ? origin.principal.userId : origin.author
}
