/**
 * Bounds the work one incoming Yjs update can cause, checked on its decoded form
 * before it touches a live document.
 *
 * Defends against crafted updates (yjs/yjs#479, #687): every decoded struct costs at
 * least one byte, so decoding a size-limited message is bounded, but clocks and
 * lengths are free varints. An update claiming a clock near 2^53 or a deletion
 * range of 2^52 items is accepted by Yjs and then poisons the document's state
 * vector for good. Accord's documents never come near these bounds.
 */
import * as Y from 'yjs'
import { LIMITS } from '../../shared/protocol.js'

export interface UpdateBounds {
  maxClock: number
  maxClients: number
}

const DEFAULT_BOUNDS: UpdateBounds = { maxClock: LIMITS.MAX_UPDATE_CLOCK, maxClients: LIMITS.MAX_UPDATE_CLIENTS }

export type UpdateCheck = { ok: true; empty: boolean } | { ok: false; reason: string }

/** Decodes `update` (throws on malformed bytes) and checks it against the bounds. */
export function checkUpdateBounds(update: Uint8Array, bounds: UpdateBounds = DEFAULT_BOUNDS): UpdateCheck {
  const { structs, ds } = Y.decodeUpdate(update)
  const clients = new Set<number>()
  for (const struct of structs) {
    clients.add(struct.id.client)
    if (struct.id.clock + struct.length > bounds.maxClock) return { ok: false, reason: 'struct clock out of range' }
    if (struct instanceof Y.Item && struct.content instanceof Y.ContentDoc) return { ok: false, reason: 'subdocuments are not accepted' }
  }
  for (const [client, ranges] of ds.clients) {
    clients.add(client)
    for (const range of ranges) {
      if (range.clock + range.len > bounds.maxClock) return { ok: false, reason: 'delete range out of range' }
    }
  }
  if (clients.size > bounds.maxClients) return { ok: false, reason: 'too many clients in one update' }
  return { ok: true, empty: structs.length === 0 && ds.clients.size === 0 }
}
