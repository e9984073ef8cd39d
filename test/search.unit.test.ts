/** What a search matches and where (shared/search.ts) and how the command palette shows it, pure: no server. */
import { describe, expect, it } from 'vitest'
import { foundOf } from '../client/src/components/CommandPalette.js'
import { asciiLower, matchIn, searchedValues } from '../shared/search.js'

const customer = {
  fields: { email: 'ops@fjordline.test', name: 'Fjordline Shipping', tags: ['Shipping', 'vip'], ownerId: 'u-abc123' },
  notes: 'We met them at the harbour fair in Bergen last spring.\nWants the zanzibarite add-on for every vessel in the fleet, soon.',
}

describe('search matches', () => {
  it('[SE1] the values only: the title first, then other values, array elements and the notes; never a field name or a reference', () => {
    expect(searchedValues('customers', customer.fields)).toEqual([
      { field: 'name', text: 'Fjordline Shipping' },
      { field: 'email', text: 'ops@fjordline.test' },
      { field: 'tags', text: 'Shipping' },
      { field: 'tags', text: 'vip' },
    ])
    expect(matchIn('customers', customer, 'shipping')).toEqual({ field: 'name', snippet: 'Fjordline Shipping' })
    expect(matchIn('customers', customer, 'OPS@')).toEqual({ field: 'email', snippet: 'ops@fjordline.test' })
    expect(matchIn('customers', customer, 'VIP')).toEqual({ field: 'tags', snippet: 'vip' })
    expect(matchIn('customers', customer, 'Zanzibarite')).toEqual({
      field: 'notes',
      snippet: '…fair in Bergen last spring. Wants the zanzibarite add-on for every vessel in the fleet,…',
    })
    for (const nothing of ['email', 'name', 'tags', '"', ':', 'abc123', 'ownerId', '{'])
      expect(matchIn('customers', customer, nothing)).toBeNull()
  })

  it('[SE2] a number as its JSON text; ASCII letters in either case, other letters as written', () => {
    const deal = { fields: { title: 'Ärzte retainer', amount: 1500.5, customerId: 'c1500' }, notes: '' }
    expect(matchIn('deals', deal, '500.5')).toEqual({ field: 'amount', snippet: '1500.5' })
    expect(matchIn('deals', deal, 'c1500')).toBeNull()
    expect(matchIn('deals', deal, 'RETAINER')?.field).toBe('title')
    expect(matchIn('deals', deal, 'ärzte')).toBeNull()
    expect(asciiLower('ÄRZTE Ltd')).toBe('Ärzte ltd')
  })
})

describe('command palette', () => {
  it('[SE3] says where a record matched when not in its title', () => {
    const hit = { collection: 'customers', id: 'c1', title: 'Fjordline Shipping' } as const
    expect(foundOf({ ...hit, match: { field: 'name', snippet: 'Fjordline Shipping' } }).where).toBeNull()
    expect(foundOf({ ...hit, match: { field: 'email', snippet: 'ops@fjordline.test' } }).where).toBe('Email: ops@fjordline.test')
    expect(foundOf({ ...hit, match: { field: 'notes', snippet: '…the zanzibarite add-on…' } })).toEqual({
      ...hit,
      where: 'in notes: …the zanzibarite add-on…',
    })
  })
})
