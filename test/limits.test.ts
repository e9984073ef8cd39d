/** Pure limit modules: token bucket, update bounds. No sockets. (The sign-in throttle's rules: test/authstore.contract.test.ts.) */
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { TokenBucket } from '../server/limits/TokenBucket.js'
import { checkUpdateBounds } from '../server/limits/updateBounds.js'
import { knowsAll, leastKnown } from '../server/sync/Step1Pacer.js'
import { LIMITS } from '../shared/protocol.js'

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    let now = 0
    const bucket = new TokenBucket(10, 5, () => now)
    expect(Array.from({ length: 6 }, () => bucket.take())).toEqual([true, true, true, true, true, false])
    now += 100
    expect(bucket.take()).toBe(true)
    expect(bucket.take()).toBe(false)
    now += 10_000
    expect(Array.from({ length: 6 }, () => bucket.take()).filter(Boolean)).toHaveLength(5)
  })
})

describe('TokenBucket of bytes', () => {
  it('[L6] weighs events; one heavier than the burst goes on a full bucket, and its debt is paid back before the next', () => {
    let now = 0
    const bucket = new TokenBucket(1000, 4000, () => now)
    expect(bucket.take(3000)).toBe(true)
    expect(bucket.msUntil(3000)).toBe(2000)
    expect(bucket.take(3000)).toBe(false)
    now = 3000
    expect(bucket.take(10_000)).toBe(true)
    expect(bucket.msUntil(1)).toBe(6001)
    now += 6001
    expect(bucket.take(1)).toBe(true)
  })
})

describe('step-1 coalescing', () => {
  it('[L6] a waiting reply answers a later step 1 only for what both state vectors know', () => {
    const a = new Map([
      [1, 10],
      [2, 5],
    ])
    expect(
      knowsAll(
        new Map([
          [1, 12],
          [2, 5],
          [3, 1],
        ]),
        a,
      ),
    ).toBe(true)
    expect(knowsAll(new Map([[1, 12]]), a)).toBe(false)
    expect(
      leastKnown(
        a,
        new Map([
          [1, 7],
          [3, 4],
        ]),
      ),
    ).toEqual(new Map([[1, 7]]))
    expect(leastKnown(a, new Map())).toEqual(new Map())
  })
})

describe('checkUpdateBounds', () => {
  const gcAt = (clock: number, length: number) => {
    const e = encoding.createEncoder()
    for (const n of [1, 1, 7, clock]) encoding.writeVarUint(e, n)
    encoding.writeUint8(e, 0)
    encoding.writeVarUint(e, length)
    encoding.writeVarUint(e, 0)
    return encoding.toUint8Array(e)
  }

  it('accepts real updates and reports empty ones', () => {
    const doc = new Y.Doc()
    doc.getText('notes').insert(0, 'hello')
    doc.getMap('fields').set('title', 'x')
    expect(checkUpdateBounds(Y.encodeStateAsUpdate(doc))).toEqual({ ok: true, empty: false, plain: true })
    expect(checkUpdateBounds(Y.encodeStateAsUpdate(new Y.Doc()))).toEqual({ ok: true, empty: true, plain: true })
  })

  it('calls an update plain only when what the document lacks is text, values or deletions', () => {
    const doc = new Y.Doc()
    doc.getArray('items').push([new Y.Map()])
    const withType = Y.encodeStateAsUpdate(doc)
    expect(checkUpdateBounds(withType)).toMatchObject({ ok: true, plain: false })
    // A client resending structs the document already holds: still plain.
    expect(checkUpdateBounds(withType, undefined, () => Number.MAX_SAFE_INTEGER)).toMatchObject({ ok: true, plain: true })
    const formatted = new Y.Doc()
    formatted.getText('notes').insert(0, 'hello', { bold: true })
    expect(checkUpdateBounds(Y.encodeStateAsUpdate(formatted))).toMatchObject({ ok: true, plain: false })
  })

  it('refuses a struct that names itself or a later struct of its own client, and an empty delete range (Yjs throws on them half-way)', () => {
    const self = encoding.createEncoder()
    // One client, one struct at clock 0: a ContentAny under a key of a parent given by id, its own.
    for (const n of [1, 1, 9, 0]) encoding.writeVarUint(self, n)
    encoding.writeUint8(self, 8 | 0x20)
    encoding.writeVarUint(self, 0)
    for (const n of [9, 0]) encoding.writeVarUint(self, n)
    encoding.writeVarString(self, 'k')
    encoding.writeVarUint(self, 1)
    encoding.writeAny(self, 1)
    encoding.writeVarUint(self, 0)
    expect(checkUpdateBounds(encoding.toUint8Array(self))).toMatchObject({ ok: false })
    const empty = encoding.createEncoder()
    for (const n of [0, 1, 7, 1, 5, 0]) encoding.writeVarUint(empty, n)
    expect(checkUpdateBounds(encoding.toUint8Array(empty))).toMatchObject({ ok: false, reason: 'empty delete range' })
  })

  it('refuses absurd clocks, lengths and delete ranges', () => {
    expect(checkUpdateBounds(gcAt(0, 10)).ok).toBe(true)
    expect(checkUpdateBounds(gcAt(2 ** 40, 1)).ok).toBe(false)
    expect(checkUpdateBounds(gcAt(0, LIMITS.MAX_UPDATE_CLOCK + 1)).ok).toBe(false)
    const e = encoding.createEncoder()
    for (const n of [0, 1, 7, 1, 0, 2 ** 50]) encoding.writeVarUint(e, n)
    expect(checkUpdateBounds(encoding.toUint8Array(e)).ok).toBe(false)
  })

  it('refuses subdocuments and too many clients', () => {
    const doc = new Y.Doc()
    doc.getMap('fields').set('sub', new Y.Doc())
    expect(checkUpdateBounds(Y.encodeStateAsUpdate(doc))).toMatchObject({ ok: false })
    const many = Y.mergeUpdates(
      Array.from({ length: 5 }, () => {
        const d = new Y.Doc()
        d.getText('notes').insert(0, 'x')
        return Y.encodeStateAsUpdate(d)
      }),
    )
    expect(checkUpdateBounds(many, { maxClock: 100, maxClients: 4 })).toMatchObject({ ok: false })
  })

  it('throws on truncated bytes', () => {
    const doc = new Y.Doc()
    doc.getText('notes').insert(0, 'hello')
    const update = Y.encodeStateAsUpdate(doc)
    expect(() => checkUpdateBounds(update.slice(0, update.length - 3))).toThrow()
  })
})

describe('docs/api.md', () => {
  it('documents every limit with its value from LIMITS (one place for each fact)', async () => {
    const { readFileSync } = await import('node:fs')
    const readme = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8')
    const documented = new Map<string, number>()
    for (const match of readme.matchAll(/^\| `([A-Z0-9_]+)` \| `(\d+)`/gm)) documented.set(match[1]!, Number(match[2]))
    for (const [name, value] of Object.entries(LIMITS)) expect([name, documented.get(name)]).toEqual([name, value])
  })
})
