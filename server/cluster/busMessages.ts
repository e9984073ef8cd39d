/**
 * The messages cluster members exchange over the bus (Bus.ts), as bytes. Pure: no I/O. A
 * message does not name its document: the channel it travels on does.
 *
 * Wire format (lib0 encoding):
 *
 *   message   := varUint(kind) • body
 *   broadcast := varUint(BUS_MESSAGE.broadcast) • varUint(first) • varUint(last) • varUint(n) • varByteArray(update)ⁿ
 *
 * A broadcast announces the committed updates `first..last` of its document's log
 * (`doc_updates.seq`), numbered in commit order. It carries them, one per number (n = last −
 * first + 1), or none (n = 0): sent **by reference**, the reader takes them from PostgreSQL.
 * Updates above `inlineMaxBytes` go by reference, so one large paste is not copied into Redis
 * and out again to every relay. A by-reference broadcast of one number also serves as a
 * notice of the log's head.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Message kinds, the first number of every message on the bus. */
export const BUS_MESSAGE = {
  broadcast: 0,
} as const

/** The updates an owner committed, as relays receive them. */
export interface Broadcast {
  readonly kind: 'broadcast'
  /** The log numbers announced, both included; 1 ≤ first ≤ last. */
  readonly first: number
  readonly last: number
  /** The update of each number from `first` to `last`; absent when sent by reference. */
  readonly updates?: readonly Uint8Array[]
}

/** Any message decoded from the bus. */
export type BusMessage = Broadcast

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
  encoding.writeVarUint(encoder, BUS_MESSAGE.broadcast)
  encoding.writeVarUint(encoder, message.first)
  encoding.writeVarUint(encoder, message.last)
  const updates = message.updates ?? []
  encoding.writeVarUint(encoder, updates.length)
  for (const update of updates) encoding.writeVarUint8Array(encoder, update)
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
    if (kind !== BUS_MESSAGE.broadcast) throw new BusMessageError(`unknown bus message kind ${kind}`)
    const first = decoding.readVarUint(decoder)
    const last = decoding.readVarUint(decoder)
    const n = decoding.readVarUint(decoder)
    if (first < 1 || last < first || (n !== 0 && n !== last - first + 1))
      throw new BusMessageError(`malformed broadcast: ${first}..${last} with ${n} updates`)
    const updates: Uint8Array[] = []
    for (let i = 0; i < n; i++) updates.push(decoding.readVarUint8Array(decoder))
    if (decoding.hasContent(decoder)) throw new BusMessageError('malformed broadcast: bytes after its end')
    return n === 0 ? { kind: 'broadcast', first, last } : { kind: 'broadcast', first, last, updates }
  } catch (error) {
    if (error instanceof BusMessageError) throw error
    throw new BusMessageError(`malformed bus message: ${(error as Error).message}`)
  }
}

/** A message on the bus that this version cannot read. */
export class BusMessageError extends Error {
  override name = 'BusMessageError'
}
