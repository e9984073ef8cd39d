/** The bus's message format (server/cluster/busMessages.ts): round trips and malformed input, no I/O. */
import { describe, expect, it } from 'vitest'
import { BusMessageError, broadcastOf, decodeBusMessage, encodeBusMessage, referenceOf } from '../server/cluster/busMessages.js'

const bytes = (...values: number[]) => new Uint8Array(values)

describe('bus messages', () => {
  it('[BM1] a broadcast carrying its updates, and one by reference, decode to what was encoded', () => {
    const updates = [bytes(1, 2, 3), bytes(), bytes(255, 0, 128)]
    const inline = broadcastOf(41, updates)
    expect(inline).toEqual({ kind: 'broadcast', first: 41, last: 43, updates })
    expect(decodeBusMessage(encodeBusMessage(inline))).toEqual({ kind: 'broadcast', first: 41, last: 43, updates })
    expect(decodeBusMessage(encodeBusMessage(referenceOf(7, 9)))).toEqual({ kind: 'broadcast', first: 7, last: 9 })
  })

  it('[BM2] updates above the inline limit together go by reference', () => {
    expect(broadcastOf(1, [new Uint8Array(600), new Uint8Array(400)], 1000).updates).toHaveLength(2)
    expect(broadcastOf(1, [new Uint8Array(600), new Uint8Array(401)], 1000)).toEqual({ kind: 'broadcast', first: 1, last: 2 })
  })

  it('[BM3] empty or invalid ranges are refused when made', () => {
    expect(() => broadcastOf(1, [])).toThrow(RangeError)
    expect(() => broadcastOf(0, [bytes(1)])).toThrow(RangeError)
    expect(() => referenceOf(5, 4)).toThrow(RangeError)
  })

  it('[BM4] malformed messages throw BusMessageError: unknown kind, wrong count, bad range, truncated, trailing bytes', () => {
    const good = encodeBusMessage(broadcastOf(3, [bytes(1), bytes(2)]))
    for (const bad of [
      bytes(9, 1, 1, 0), // unknown kind
      bytes(0, 3, 4, 1, 1, 1), // one update for two numbers
      bytes(0, 4, 3, 0), // last before first
      bytes(0, 0, 0, 0), // number 0
      good.subarray(0, good.length - 1),
      Buffer.concat([good, bytes(0)]),
    ])
      expect(() => decodeBusMessage(bad)).toThrow(BusMessageError)
  })
})
