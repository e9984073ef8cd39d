/**
 * The sync protocol: the y-websocket message types, Accord's one extra message,
 * close codes and limits. Pure.
 *
 *   message        := varUint(type) • payload
 *   sync           := varUint(0) • syncMessage            (y-protocols/sync)
 *   awareness      := varUint(1) • varByteArray(update)   (y-protocols/awareness)
 *   queryAwareness := varUint(3)
 *   notice         := varUint(100) • varString(json(ServerNotice))   server → client, only
 *                     to connections that opted in with `?notices=1`
 *
 * A message does not name the document: the socket's URL does.
 */
export const MESSAGE = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  notice: 100,
} as const

/** Why the server changed or refused part of what a client sent. */
export type ServerNotice =
  | { type: 'rejected'; reason: 'invalid' | 'authority' | 'read-only' | 'server-only'; issues: { path: string; message: string }[] }

export const CLOSE = {
  normal: { code: 1000, reason: 'Normal closure' },
  shuttingDown: { code: 1001, reason: 'Server shutting down' },
  internalError: { code: 1011, reason: 'Internal error' },
  malformed: { code: 4400, reason: 'Malformed message' },
  unauthorized: { code: 4401, reason: 'Not authenticated' },
  forbidden: { code: 4403, reason: 'No access to this document' },
  notFound: { code: 4404, reason: 'No such document kind or collection' },
  tooLarge: { code: 4413, reason: 'Message too large' },
  rateLimited: { code: 4429, reason: 'Rate limited' },
} as const satisfies Record<string, { code: number; reason: string }>

export type CloseKind = keyof typeof CLOSE

export const LIMITS = {
  /** Largest WebSocket message accepted, in bytes; larger closes with 4413. */
  MAX_MESSAGE_BYTES: 1024 * 1024,
  /** Messages per connection per second, averaged over a burst window; more closes with 4429. */
  MAX_MESSAGES_PER_SECOND: 200,
  /** Burst allowance of the per-connection rate limit. */
  MESSAGE_BURST: 400,
  /** Open sockets per user; one more closes with 4429. */
  MAX_CONNECTIONS_PER_USER: 200,
  /** Bytes the server may buffer for one slow socket before dropping it. */
  MAX_BUFFERED_BYTES: 8 * 1024 * 1024,
  /** Largest awareness state of one client, in bytes of JSON. */
  MAX_AWARENESS_STATE_BYTES: 16 * 1024,
} as const

/** Session cookie name. */
export const SESSION_COOKIE = 'accord_session'
