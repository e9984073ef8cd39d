/**
 * Encoders of the messages the server sends (see shared/protocol.ts for the grammar).
 * Each returns a Buffer view of the encoded bytes (no copy): ws sends a Buffer as it is,
 * where it would wrap a plain Uint8Array again for every socket of a broadcast.
 */
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import type * as Y from 'yjs'
import { MESSAGE, type ServerNotice } from '../../shared/protocol.js'

export function syncStep1Message(doc: Y.Doc): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.sync)
  syncProtocol.writeSyncStep1(encoder, doc)
  return bytesOf(encoder)
}

/** Sync step 2 carrying an update that is already encoded (the whole state, for a client that has nothing). */
export function encodedStep2Message(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.sync)
  encoding.writeVarUint(encoder, syncProtocol.messageYjsSyncStep2)
  encoding.writeVarUint8Array(encoder, update)
  return bytesOf(encoder)
}

export function syncStep2Message(doc: Y.Doc, stateVector: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.sync)
  syncProtocol.writeSyncStep2(encoder, doc, stateVector)
  return bytesOf(encoder)
}

export function updateMessage(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.sync)
  syncProtocol.writeUpdate(encoder, update)
  return bytesOf(encoder)
}

export function awarenessMessage(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.awareness)
  encoding.writeVarUint8Array(encoder, update)
  return bytesOf(encoder)
}

export function noticeMessage(notice: ServerNotice): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.notice)
  encoding.writeVarString(encoder, JSON.stringify(notice))
  return bytesOf(encoder)
}

function bytesOf(encoder: encoding.Encoder): Buffer {
  const bytes = encoding.toUint8Array(encoder)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
