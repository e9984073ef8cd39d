/** The bus's message format (server/cluster/busMessages.ts): round trips and malformed input, no I/O. */
import { describe, expect, it } from 'vitest'
import type { Principal } from '../server/auth/types.js'
import {
  type BusMessage,
  CALL_OUTCOME,
  BusMessageError,
  broadcastOf,
  decodeBroadcast,
  decodeRelaysMessage,
  decodeBusMessage,
  encodeBusMessage,
  referenceOf,
} from '../server/cluster/busMessages.js'

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

  it('[BM5] a relayed client message, a reply for one client and a client gone decode to what was encoded', () => {
    const principal: Principal = {
      userId: 'u1',
      role: 'viewer',
      workspace: 'acme',
      sessionId: 's1',
      name: 'Zoë ✓',
      email: 'z@acme.test',
      color: '#123456',
    }
    const messages: BusMessage[] = [
      { kind: 'relayed', relay: 'member-b', connection: 17, wantsNotices: true, principal, message: bytes(0, 2, 255) },
      {
        kind: 'relayed',
        relay: 'm',
        connection: 0,
        wantsNotices: false,
        principal: { ...principal, role: 'owner', name: '' },
        message: bytes(),
      },
      { kind: 'toClient', doc: 'acme/deals/d1', connection: 2 ** 40, message: bytes(3, 1) },
      { kind: 'left', relay: 'member-b', connection: 17 },
      { kind: 'owned', last: 0 },
      { kind: 'owned', last: 4242 },
    ]
    for (const message of messages) expect(decodeBusMessage(encodeBusMessage(message))).toEqual(message)
  })

  it('[BM6] a relayed message with an unknown role, truncated or with trailing bytes is refused; a relays channel takes only broadcasts', () => {
    const principal: Principal = { userId: 'u1', role: 'member', workspace: 'acme', sessionId: 's1', name: 'n', email: 'e', color: 'c' }
    const good = encodeBusMessage({ kind: 'relayed', relay: 'b', connection: 1, wantsNotices: false, principal, message: bytes(1, 2) })
    const superuser = encodeBusMessage({
      kind: 'relayed',
      relay: 'b',
      connection: 1,
      wantsNotices: false,
      principal: { ...principal, role: 'root' as never },
      message: bytes(1),
    })
    for (const bad of [superuser, good.subarray(0, good.length - 1), Buffer.concat([good, bytes(0)])])
      expect(() => decodeBusMessage(bad)).toThrow(BusMessageError)
    expect(() => decodeBroadcast(good)).toThrow(BusMessageError)
    expect(decodeBroadcast(encodeBusMessage(referenceOf(2)))).toEqual({ kind: 'broadcast', first: 2, last: 2 })
    expect(() => decodeRelaysMessage(good)).toThrow(BusMessageError)
    expect(decodeRelaysMessage(encodeBusMessage({ kind: 'owned', last: 7 }))).toEqual({ kind: 'owned', last: 7 })
  })
  it('[BM7] closing one client with a code, a call and its answers decode to what was encoded; an unknown outcome is refused', () => {
    const messages: BusMessage[] = [
      { kind: 'closeClient', doc: 'acme/deals/d1', connection: 9, code: 1001 },
      { kind: 'call', caller: 'member-a', id: 1, name: 'record.write', args: JSON.stringify({ notes: 'Zoë ✓', n: [1, null] }) },
      { kind: 'call', caller: 'm', id: 2 ** 40, name: 'x', args: '' },
      { kind: 'answer', id: 7, outcome: CALL_OUTCOME.done, body: '{"written":true}' },
      { kind: 'answer', id: 8, outcome: CALL_OUTCOME.notOwner, body: '' },
      { kind: 'answer', id: 9, outcome: CALL_OUTCOME.persistFailed, body: 'could not persist' },
    ]
    for (const message of messages) expect(decodeBusMessage(encodeBusMessage(message))).toEqual(message)
    const bad = encodeBusMessage({ kind: 'answer', id: 1, outcome: CALL_OUTCOME.done, body: '' })
    bad[2] = 9
    expect(() => decodeBusMessage(bad)).toThrow(BusMessageError)
    const call = encodeBusMessage({ kind: 'call', caller: 'm', id: 1, name: 'x', args: '{}' })
    expect(() => decodeBusMessage(call.subarray(0, call.length - 1))).toThrow(BusMessageError)
  })
})
