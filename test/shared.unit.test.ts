/** Pure rules of shared/: schemas, document names, the awareness codec. */
import { describe, expect, it } from 'vitest'
import { decodeAwarenessUpdate, encodeAwarenessUpdate } from '../shared/awarenessCodec.js'
import { COLLECTIONS, REFERENCES, checkField, checkItems, checkRecord, fieldNames } from '../shared/collections.js'
import { formatDocName, parseDocName } from '../shared/docNames.js'

describe('collections', () => {
  it('accepts a valid deal and rejects a bad stage, a negative amount and an unknown field', () => {
    expect(checkRecord('deals', { title: 'A', stage: 'won', amount: 10, currency: 'EUR' })).toEqual([])
    expect(checkField('deals', 'stage', 'maybe')?.path).toBe('stage')
    expect(checkField('deals', 'amount', -1)?.path).toBe('amount')
    expect(checkField('deals', 'colour', 'red')?.message).toMatch(/unknown field/)
  })
  it('requires required fields', () => {
    expect(checkRecord('customers', {}).map((i) => i.path)).toEqual(['name'])
  })
  it('rejects naive timestamps and end before start on events', () => {
    expect(checkField('events', 'start', '2026-03-02T09:00')?.message).toMatch(/time zone/)
    expect(checkField('events', 'start', '2026-03-02T09:00:00+01:00')).toBeNull()
    const issues = checkRecord('events', { title: 'x', start: '2026-03-02T10:00:00Z', end: '2026-03-02T09:00:00Z' })
    expect(issues.map((i) => i.path)).toEqual(['start', 'end'])
  })
  it('names in REFERENCES only fields of the collection, each pointing at users, a collection or any record', () => {
    for (const collection of COLLECTIONS) {
      for (const [field, to] of Object.entries(REFERENCES[collection])) {
        expect(fieldNames(collection), `${collection}.${field}`).toContain(field)
        expect(['users', 'any', ...COLLECTIONS]).toContain(to)
      }
    }
  })

  it('checks line items', () => {
    expect(checkItems([{ description: 'a', quantity: 1, unitPrice: 0 }])).toEqual([])
    expect(checkItems([{ description: 'a', quantity: 0, unitPrice: 1 }])[0]?.path).toBe('items.0.quantity')
  })
})

describe('document names', () => {
  it('round-trips every kind', () => {
    for (const raw of ['acme/deals/abc', 'acme/index/events', 'acme/inbox/u1']) {
      const parsed = parseDocName(raw)
      expect(parsed.ok && formatDocName(parsed.name)).toBe(raw)
    }
  })
  it('rejects unknown kinds and malformed names', () => {
    expect(parseDocName('acme/ships/abc')).toEqual({ ok: false, reason: 'unknown-kind' })
    expect(parseDocName('acme/index/ships')).toEqual({ ok: false, reason: 'unknown-kind' })
    expect(parseDocName('acme/deals')).toEqual({ ok: false, reason: 'malformed' })
    expect(parseDocName('acme/deals/../x')).toEqual({ ok: false, reason: 'malformed' })
  })
})

describe('awareness codec', () => {
  it('round-trips entries and rejects malformed input', () => {
    const entries = [
      { clientID: 7, clock: 3, state: { cursor: 1 } },
      { clientID: 9, clock: 1, state: null },
    ]
    expect(decodeAwarenessUpdate(encodeAwarenessUpdate(entries))).toEqual(entries)
    expect(() => decodeAwarenessUpdate(new Uint8Array([1, 7]))).toThrow()
    expect(() => decodeAwarenessUpdate(new Uint8Array([1, 1, 1, 1, 0x22]))).toThrow()
  })
})
