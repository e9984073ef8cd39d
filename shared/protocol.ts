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

/** Someone a notice names: a user id and the user's display name. */
export interface NoticeUser {
  id: string
  name: string
}

/**
 * What the server tells a client about a document: why it changed or refused part of what the
 * client sent (`rejected`), or that two people set the same field concurrently, neither having
 * seen the other's value (Yjs kept one of them): the one whose value lost gets `overwritten`, the
 * one whose value was kept gets `overwrote`. `path` is `fields.<name>`, `at` an ISO time.
 */
export type ServerNotice =
  | {
      type: 'rejected'
      reason: 'invalid' | 'authority' | 'read-only' | 'server-only'
      issues: { path: string; message: string }[]
    }
  | { type: 'overwritten'; path: string; yours: unknown; kept: unknown; by: NoticeUser; at: string }
  | { type: 'overwrote'; path: string; yours: unknown; replaced: unknown; by: NoticeUser; at: string }

/** The notice of a change the server refused or reverted. */
export type RejectedNotice = Extract<ServerNotice, { type: 'rejected' }>

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
  MAX_MESSAGES_PER_SECOND: 1000,
  /**
   * Burst allowance of the per-connection rate limit. Generous on purpose: a provider sends one
   * message per transaction, so a script editing in a loop bursts thousands at once.
   */
  MESSAGE_BURST: 10_000,
  /** Open sockets per user; one more closes with 4429. */
  MAX_CONNECTIONS_PER_USER: 200,
  /**
   * Distinct documents one user may hold open at once (any number of sockets each); a socket to
   * one more closes with 4429. The web client holds about ten (the indexes, the inbox, the open
   * records) plus the records it flushes after offline edits; this bounds what one account keeps
   * loaded in memory.
   */
  MAX_DOCUMENTS_PER_USER: 100,
  /**
   * Bytes of sync step-1 replies (the part of the document a client asks for) sent to one
   * connection per second, past the burst. Replies over budget wait, they are never dropped; a
   * stock provider asks once per connection, so only a client asking again and again is slowed.
   */
  STEP1_REPLY_BYTES_PER_SECOND: 1024 * 1024,
  /**
   * Burst allowance of the step-1 reply budget, in bytes; a connection starts with it full. A
   * reply larger than the burst goes as soon as the budget is full (so a first sync of any size
   * is never held) and is paid back before the next one.
   */
  STEP1_REPLY_BURST_BYTES: 8 * 1024 * 1024,
  /** Bytes the server may buffer for one slow socket before dropping it. */
  MAX_BUFFERED_BYTES: 8 * 1024 * 1024,
  /** Largest awareness state of one client, in bytes of JSON. */
  MAX_AWARENESS_STATE_BYTES: 16 * 1024,
  /** Awareness client ids one connection may announce; more closes with 4400. */
  MAX_AWARENESS_CLIENTS_PER_CONNECTION: 16,
  /**
   * Highest Yjs clock (and clock + length) an incoming update may reach. Real documents stay
   * far below; crafted updates with huge clocks or lengths are refused (4400) before applying.
   */
  MAX_UPDATE_CLOCK: 2 ** 31,
  /** Most clients (client ids) named in one incoming update. */
  MAX_UPDATE_CLIENTS: 1024,
  /**
   * Deepest nesting of shared types an incoming update may create (a root's own entries are
   * depth 0; a line item's Y.Map is depth 1). Records never need more than 1; deeper is
   * refused with 4400 before the live document is touched, because Yjs converts and deletes
   * nested types recursively and a 30,000-deep chain of maps overflows the stack there.
   */
  MAX_NESTING_DEPTH: 16,
  /** Bytes of not-yet-integrable structs (missing dependencies) a document may hold; past it the sender is closed (4400). */
  MAX_PENDING_UPDATE_BYTES: 1024 * 1024,
  /** How often open sockets' sessions are re-checked for expiry and revocation, in ms. */
  SESSION_SWEEP_MS: 250,
  /**
   * Every socket is checked once per this interval, in ms: pinged if it sent nothing since its
   * last check, dropped if it answered nothing since the ping (a client gone without closing:
   * a laptop asleep, a lost network).
   */
  PING_INTERVAL_MS: 30_000,
  /**
   * Sign-ins per e-mail address (known or not) within the window that failed or are still
   * running (an attempt counts when it starts; a success takes itself back); more answer 429.
   */
  LOGIN_FAILURES_PER_ACCOUNT: 10,
  /** The same per client address (across e-mails); more answer 429. */
  LOGIN_FAILURES_PER_ADDRESS: 100,
  /** Window of the sign-in limits, in ms. */
  LOGIN_WINDOW_MS: 15 * 60 * 1000,
  /**
   * Mention notifications one user may send another at once (each in a record of its own; one
   * record notifies a person once anyway); past it they refill at MENTION_NOTICES_PER_HOUR. A
   * mention past the budget stays in the notes but notifies no one, so one member cannot fill
   * a colleague's inbox (which keeps the last 50) and screen with notices of their making.
   * Counted by the process that owns the record (per process in a cluster).
   */
  MENTION_NOTICES_BURST: 10,
  /** How fast the mention budget of MENTION_NOTICES_BURST refills, per hour. */
  MENTION_NOTICES_PER_HOUR: 20,
  /** Largest JSON request body, in bytes; larger answers 413. */
  MAX_BODY_BYTES: 1024 * 1024,
} as const

/** The limits, as overridable numbers (tests and operators may tighten or relax them). */
export type Limits = { -readonly [K in keyof typeof LIMITS]: number }

/** Session cookie name. */
export const SESSION_COOKIE = 'accord_session'
