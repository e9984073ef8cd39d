/**
 * Bounds the work one incoming Yjs update can cause, checked on its decoded form
 * before it touches a live document.
 *
 * Defends against crafted updates (yjs/yjs#479, #687): every decoded struct costs at
 * least one byte, so decoding a size-limited message is bounded, but clocks and
 * lengths are free varints. An update claiming a clock near 2^53 or a deletion
 * range of 2^52 items is accepted by Yjs and then poisons the document's state
 * vector for good. Accord's documents never come near these bounds.
 *
 * It also refuses what makes Yjs throw half-way through applying an update, after part
 * of it was integrated into the live document (found by flipping bits of real updates):
 * a struct that names itself or a later struct of its own client as its left, right or
 * parent (Yjs trusts a client's own earlier structs to be there and fails to find them),
 * and a deletion range of length 0 (Yjs fails to re-encode it while applying).
 */
import * as Y from 'yjs'
import { LIMITS } from '../../shared/protocol.js'

export interface UpdateBounds {
  maxClock: number
  maxClients: number
}

const DEFAULT_BOUNDS: UpdateBounds = { maxClock: LIMITS.MAX_UPDATE_CLOCK, maxClients: LIMITS.MAX_UPDATE_CLIENTS }

export type UpdateCheck =
  | {
      ok: true
      empty: boolean
      /**
       * Whether every struct the document does not have yet holds only text, JSON values or
       * deletions: what typing and setting fields send. Anything else (shared types, format
       * marks, embeds, bytes) is worth trying on a copy first.
       */
      plain: boolean
    }
  | { ok: false; reason: string }

/**
 * Decodes `update` (throws on malformed bytes) and checks it against the bounds. `known`
 * gives the document's clock per client, so structs it already holds do not count against `plain`.
 */
export function checkUpdateBounds(
  update: Uint8Array,
  bounds: UpdateBounds = DEFAULT_BOUNDS,
  known: (client: number) => number = () => 0,
): UpdateCheck {
  const { structs, ds } = Y.decodeUpdate(update)
  const clients = new Set<number>()
  let plain = true
  for (const struct of structs) {
    clients.add(struct.id.client)
    if (struct.id.clock + struct.length > bounds.maxClock) return { ok: false, reason: 'struct clock out of range' }
    if (!(struct instanceof Y.Item)) continue
    if (struct.content instanceof Y.ContentDoc) return { ok: false, reason: 'subdocuments are not accepted' }
    if (refersForward(struct)) return { ok: false, reason: 'a struct refers to itself or to a later struct of its client' }
    if (plain && !isPlainContent(struct.content) && struct.id.clock + struct.length > known(struct.id.client)) plain = false
  }
  for (const [client, ranges] of ds.clients) {
    clients.add(client)
    for (const range of ranges) {
      if (range.len === 0) return { ok: false, reason: 'empty delete range' }
      if (range.clock + range.len > bounds.maxClock) return { ok: false, reason: 'delete range out of range' }
    }
  }
  if (clients.size > bounds.maxClients) return { ok: false, reason: 'too many clients in one update' }
  return { ok: true, empty: structs.length === 0 && ds.clients.size === 0, plain }
}

/** Yjs integrates a client's structs in clock order, so a reference to its own clock at or past the struct can never resolve. */
function refersForward(item: Y.Item): boolean {
  const { client, clock } = item.id
  const refs = [item.origin, item.rightOrigin, item.parent instanceof Y.ID ? item.parent : null]
  return refs.some((ref) => ref !== null && ref.client === client && ref.clock >= clock)
}

/** Text, JSON values or a deletion: what typing and setting fields make. */
export function isPlainContent(content: Y.Item['content']): boolean {
  return content instanceof Y.ContentString || content instanceof Y.ContentAny || content instanceof Y.ContentDeleted
}
