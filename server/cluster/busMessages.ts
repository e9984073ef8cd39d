/**
 * The messages cluster members exchange over the bus (Bus.ts), as bytes. Pure: no I/O. A
 * message does not name its document: the channel it travels on does.
 *
 * Wire format (lib0 encoding):
 *
 *   message   := varUint(kind) • body
 *   broadcast := varUint(BUS_MESSAGE.broadcast) • varUint(first) • varUint(last) • varUint(n) • varByteArray(update)ⁿ
 *   relayed   := varUint(BUS_MESSAGE.relayed) • varString(relay) • varUint(connection) • varUint(notices) • principal •
 *                varByteArray(message)
 *   toClient  := varUint(BUS_MESSAGE.toClient) • varString(doc) • varUint(connection) • varByteArray(message)
 *   left      := varUint(BUS_MESSAGE.left) • varString(relay) • varUint(connection)
 *   closeClient := varUint(BUS_MESSAGE.closeClient) • varString(doc) • varUint(connection) • varUint(code)
 *   call      := varUint(BUS_MESSAGE.call) • varString(caller) • varUint(id) • varString(name) • varString(args as JSON)
 *   answer    := varUint(BUS_MESSAGE.answer) • varUint(id) • varUint(outcome) • varString(JSON or message)
 *   owned     := varUint(BUS_MESSAGE.owned) • varUint(last)
 *   principal := varString(userId) • varString(role) • varString(workspace) • varString(sessionId) •
 *                varString(name) • varString(email) • varString(color)
 *
 * A broadcast announces the committed updates `first..last` of its document's log
 * (`doc_updates.seq`), numbered in commit order. It carries them, one per number (n = last −
 * first + 1), or none (n = 0): sent **by reference**, the reader takes them from PostgreSQL.
 * Updates above `inlineMaxBytes` go by reference, so one large paste is not copied into Redis
 * and out again to every relay. A by-reference broadcast of one number also serves as a
 * notice of the log's head.
 *
 * Relays and the owner (RelayHub.ts, OwnerEnd.ts):
 * - `relayed` (relay → the document's owner channel): one y-websocket message of a client
 *   whose socket is on member `relay`, numbered `connection` there, with the principal the
 *   relay authenticated and whether the client asked for notices (`notices`: 1 or 0). The
 *   owner handles it as a socket's message, re-checking what that principal may do (a
 *   viewer's edits are reverted, as on any socket).
 * - `toClient` (owner → the relay member's direct channel, which names no document, hence
 *   `doc`): a message for that one client only (a revert's notice, a reply); what every client
 *   sees comes as broadcasts.
 * - `left` (relay → owner channel): that client's socket closed; the owner forgets it and its
 *   presence.
 * - `closeClient` (owner → the relay member's direct channel): close that client's socket with
 *   `code` (1001 when the owner is shutting down, 1011 when it dropped the document).
 *
 * Calls (CallForwarder.ts, the registry's `defineCall`):
 * - `call` (caller → the document's owner channel): run the server transaction `name` with
 *   `args` on the document; answer to member `caller`, quoting `id`.
 * - `answer` (owner → the caller's direct channel): `outcome` 0: done, the JSON of its result
 *   (empty: undefined); 1: this member does not own the document (any more): claim it or ask
 *   again; 2: it failed, with its message; 3: it failed to persist (a PersistError), with its
 *   message.

 * - `owned` (owner → relays channel, once it loaded the document): a member owns the document
 *   now, and its log ends at `last` (0: empty). Relays read what they miss up to `last` and
 *   ask their clients for their state, so what a previous owner received and never committed
 *   (it crashed, or dropped the document) reaches the new one without a reconnect.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { Principal, Role } from '../auth/types.js'

/** Message kinds, the first number of every message on the bus. */
export const BUS_MESSAGE = {
  broadcast: 0,
  relayed: 1,
  toClient: 2,
  left: 3,
  closeClient: 4,
  call: 5,
  answer: 6,
  owned: 7,
} as const

/** How a call ended, in an `answer`. */
export const CALL_OUTCOME = { done: 0, notOwner: 1, failed: 2, persistFailed: 3 } as const
export type CallOutcome = (typeof CALL_OUTCOME)[keyof typeof CALL_OUTCOME]

const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer']

/** The updates an owner committed, as relays receive them. */
export interface Broadcast {
  readonly kind: 'broadcast'
  /** The log numbers announced, both included; 1 ≤ first ≤ last. */
  readonly first: number
  readonly last: number
  /** The update of each number from `first` to `last`; absent when sent by reference. */
  readonly updates?: readonly Uint8Array[]
}

/** A client's message, relayed to the document's owner by the member holding its socket. */
export interface Relayed {
  readonly kind: 'relayed'
  /** The relay member's id (Membership's): where `toClient` replies go. */
  readonly relay: string
  /** The client's socket, as the relay numbers its sockets. */
  readonly connection: number
  /** Who the relay authenticated on that socket. */
  readonly principal: Principal
  /** Whether the client asked for notice messages (`?notices=1`). */
  readonly wantsNotices: boolean
  /** The y-websocket message as the client sent it. */
  readonly message: Uint8Array
}

/** A message from the owner for one relayed client only. */
export interface ToClient {
  readonly kind: 'toClient'
  readonly doc: string
  readonly connection: number
  readonly message: Uint8Array
}

/** A relayed client's socket closed. */
export interface Left {
  readonly kind: 'left'
  readonly relay: string
  readonly connection: number
}

/** A member loaded the document: it owns it now, its log ending at `last`. */
export interface Owned {
  readonly kind: 'owned'
  readonly last: number
}

/** The owner closes one relayed client's socket. */
export interface CloseClient {
  readonly kind: 'closeClient'
  readonly doc: string
  readonly connection: number
  readonly code: number
}

/** A server transaction to run at the document's owner. */
export interface Call {
  readonly kind: 'call'
  /** The caller's member id: where the answer goes. */
  readonly caller: string
  readonly id: number
  readonly name: string
  /** The argument as JSON. */
  readonly args: string
}

/** The owner's answer to a call. */
export interface Answer {
  readonly kind: 'answer'
  readonly id: number
  readonly outcome: CallOutcome
  /** The result as JSON (`done`, empty for undefined), or the failure's message. */
  readonly body: string
}

/** Any message decoded from the bus. */
export type BusMessage = Broadcast | Relayed | ToClient | Left | CloseClient | Call | Answer | Owned

/** The messages made only of strings, numbers and bytes: their fields in wire order. */
type FlatKind = Exclude<BusMessage['kind'], 'broadcast' | 'relayed'>
type FieldType = 'string' | 'uint' | 'bytes'
const FLAT_FIELDS: Record<FlatKind, readonly (readonly [string, FieldType])[]> = {
  toClient: [
    ['doc', 'string'],
    ['connection', 'uint'],
    ['message', 'bytes'],
  ],
  left: [
    ['relay', 'string'],
    ['connection', 'uint'],
  ],
  closeClient: [
    ['doc', 'string'],
    ['connection', 'uint'],
    ['code', 'uint'],
  ],
  call: [
    ['caller', 'string'],
    ['id', 'uint'],
    ['name', 'string'],
    ['args', 'string'],
  ],
  answer: [
    ['id', 'uint'],
    ['outcome', 'uint'],
    ['body', 'string'],
  ],
  owned: [['last', 'uint']],
}
const WRITE: Record<FieldType, (encoder: encoding.Encoder, value: never) => void> = {
  string: encoding.writeVarString,
  uint: encoding.writeVarUint,
  bytes: encoding.writeVarUint8Array,
}
const READ: Record<FieldType, (decoder: decoding.Decoder) => unknown> = {
  string: decoding.readVarString,
  uint: decoding.readVarUint,
  bytes: decoding.readVarUint8Array,
}
const KIND_NAMES = Object.fromEntries(Object.entries(BUS_MESSAGE).map(([name, n]) => [n, name])) as Record<number, FlatKind>

/** Above this many bytes of updates, a broadcast goes by reference. @default 64 KiB */
export const INLINE_MAX_BYTES = 64 * 1024

/**
 * The broadcast of the updates committed as `first`, `first + 1`, …: carrying them, or by
 * reference when together they exceed `inlineMaxBytes`.
 */
export function broadcastOf(first: number, updates: readonly Uint8Array[], inlineMaxBytes = INLINE_MAX_BYTES): Broadcast {
  if (!(Number.isSafeInteger(first) && first >= 1 && updates.length > 0))
    throw new RangeError('a broadcast announces at least one number ≥ 1')
  const last = first + updates.length - 1
  let bytes = 0
  for (const update of updates) bytes += update.byteLength
  return bytes > inlineMaxBytes ? { kind: 'broadcast', first, last } : { kind: 'broadcast', first, last, updates }
}

/** A by-reference broadcast of `first..last`: read them from the log. */
export function referenceOf(first: number, last = first): Broadcast {
  if (!(Number.isSafeInteger(first) && first >= 1 && Number.isSafeInteger(last) && last >= first))
    throw new RangeError('a broadcast announces at least one number ≥ 1')
  return { kind: 'broadcast', first, last }
}

export function encodeBusMessage(message: BusMessage): Buffer {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, BUS_MESSAGE[message.kind])
  switch (message.kind) {
    case 'broadcast': {
      encoding.writeVarUint(encoder, message.first)
      encoding.writeVarUint(encoder, message.last)
      const updates = message.updates ?? []
      encoding.writeVarUint(encoder, updates.length)
      for (const update of updates) encoding.writeVarUint8Array(encoder, update)
      break
    }
    case 'relayed': {
      encoding.writeVarString(encoder, message.relay)
      encoding.writeVarUint(encoder, message.connection)
      encoding.writeVarUint(encoder, message.wantsNotices ? 1 : 0)
      const { userId, role, workspace, sessionId, name, email, color } = message.principal
      for (const field of [userId, role, workspace, sessionId, name, email, color]) encoding.writeVarString(encoder, field)
      encoding.writeVarUint8Array(encoder, message.message)
      break
    }
    default:
      for (const [key, type] of FLAT_FIELDS[message.kind]) WRITE[type](encoder, (message as unknown as Record<string, never>)[key]!)
  }
  const bytes = encoding.toUint8Array(encoder)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * The message in `bytes`; throws `BusMessageError` on anything malformed (another version, a
 * stray publisher), which the receiver reports and drops. The updates are views into `bytes`.
 */
export function decodeBusMessage(bytes: Uint8Array): BusMessage {
  try {
    const decoder = decoding.createDecoder(bytes)
    const kind = decoding.readVarUint(decoder)
    const message = decodeBody(decoder, kind)
    if (decoding.hasContent(decoder)) throw new BusMessageError(`malformed ${message.kind}: bytes after its end`)
    return message
  } catch (error) {
    if (error instanceof BusMessageError) throw error
    throw new BusMessageError(`malformed bus message: ${(error as Error).message}`)
  }
}

/** A message on the bus that this version cannot read. */
export class BusMessageError extends Error {
  override name = 'BusMessageError'
}

function decodeBody(decoder: decoding.Decoder, kind: number): BusMessage {
  switch (kind) {
    case BUS_MESSAGE.broadcast: {
      const first = decoding.readVarUint(decoder)
      const last = decoding.readVarUint(decoder)
      const n = decoding.readVarUint(decoder)
      if (first < 1 || last < first || (n !== 0 && n !== last - first + 1))
        throw new BusMessageError(`malformed broadcast: ${first}..${last} with ${n} updates`)
      const updates: Uint8Array[] = []
      for (let i = 0; i < n; i++) updates.push(decoding.readVarUint8Array(decoder))
      return n === 0 ? { kind: 'broadcast', first, last } : { kind: 'broadcast', first, last, updates }
    }
    case BUS_MESSAGE.relayed: {
      const relay = decoding.readVarString(decoder)
      const connection = decoding.readVarUint(decoder)
      const notices = decoding.readVarUint(decoder)
      if (notices > 1) throw new BusMessageError(`malformed relayed message: notices ${notices}`)
      const [userId, role, workspace, sessionId, name, email, color] = Array.from({ length: 7 }, () => decoding.readVarString(decoder))
      if (!ROLES.includes(role as Role)) throw new BusMessageError(`malformed relayed message: unknown role ${role}`)
      const principal: Principal = {
        userId: userId!,
        role: role as Role,
        workspace: workspace!,
        sessionId: sessionId!,
        name: name!,
        email: email!,
        color: color!,
      }
      return { kind: 'relayed', relay, connection, wantsNotices: notices === 1, principal, message: decoding.readVarUint8Array(decoder) }
    }
    case BUS_MESSAGE.toClient:
    case BUS_MESSAGE.left:
    case BUS_MESSAGE.closeClient:
    case BUS_MESSAGE.call:
    case BUS_MESSAGE.answer:
    case BUS_MESSAGE.owned: {
      const name = KIND_NAMES[kind]!
      const message: Record<string, unknown> = { kind: name }
      for (const [key, type] of FLAT_FIELDS[name]) message[key] = READ[type](decoder)
      if (name === 'answer' && (message.outcome as number) > CALL_OUTCOME.persistFailed)
        throw new BusMessageError(`malformed answer: outcome ${message.outcome}`)
      return message as unknown as BusMessage
    }
    default:
      throw new BusMessageError(`unknown bus message kind ${kind}`)
  }
}

/** The broadcast in `bytes`: a relays channel carries nothing else, so anything else is malformed there. */
export function decodeBroadcast(bytes: Uint8Array): Broadcast {
  const message = decodeBusMessage(bytes)
  if (message.kind !== 'broadcast') throw new BusMessageError(`a ${message.kind} message where a broadcast was expected`)
  return message
}

/** A message on a relays channel: a broadcast or an `owned`; anything else is malformed there. */
export function decodeRelaysMessage(bytes: Uint8Array): Broadcast | Owned {
  const message = decodeBusMessage(bytes)
  if (message.kind !== 'broadcast' && message.kind !== 'owned') throw new BusMessageError(`a ${message.kind} message on a relays channel`)
  return message
}
