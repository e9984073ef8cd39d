/**
 * The awareness update wire format of y-protocols, decoded into plain entries so the
 * server can check and rewrite them before applying. Pure.
 *
 *   awarenessUpdate := varUint(n) • n × (varUint(clientID) • varUint(clock) • varString(stateJSON))
 *
 * `stateJSON` is `"null"` when the client removes its state.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Broken UTF-8 is an error, not a U+FFFD to pass along. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })

export interface AwarenessEntry {
  clientID: number
  clock: number
  state: Record<string, unknown> | null
}

/** Decodes an awareness update; throws on malformed input. */
export function decodeAwarenessUpdate(update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update)
  const count = decoding.readVarUint(decoder)
  if (count > 10_000) throw new Error('too many awareness entries')
  const entries: AwarenessEntry[] = []
  for (let i = 0; i < count; i++) {
    const clientID = decoding.readVarUint(decoder)
    const clock = decoding.readVarUint(decoder)
    const state: unknown = JSON.parse(STRICT_UTF8.decode(decoding.readVarUint8Array(decoder)))
    if (state !== null && (typeof state !== 'object' || Array.isArray(state))) throw new Error('awareness state must be an object or null')
    entries.push({ clientID, clock, state: state as Record<string, unknown> | null })
  }
  if (decoding.hasContent(decoder)) throw new Error('trailing bytes after awareness update')
  return entries
}

export function encodeAwarenessUpdate(entries: AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, entries.length)
  for (const entry of entries) {
    encoding.writeVarUint(encoder, entry.clientID)
    encoding.writeVarUint(encoder, entry.clock)
    encoding.writeVarString(encoder, JSON.stringify(entry.state))
  }
  return encoding.toUint8Array(encoder)
}
