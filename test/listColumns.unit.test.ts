/** The list's pure parts: column values with names for ids, filters, sorting, search words, and pipeline sums per currency. */
import { describe, expect, it } from 'vitest'
import { columnsOf, currencyOf, haystackOf, type ListContext, matchesWords, passes, sortEntries } from '../client/src/listColumns.js'
import { totalsByCurrency } from '../client/src/pipelineTotals.js'
import type { IndexEntry } from '../shared/docLayout.js'
import type { ViewFilter } from '../shared/views.js'

const entry = (id: string, fields: Record<string, unknown>, extra: Partial<IndexEntry> = {}): IndexEntry => ({
  id,
  title: String(fields.title ?? fields.name ?? id),
  fields,
  authority: {},
  updatedAt: '2026-01-01T00:00:00.000Z',
  updatedBy: null,
  ...extra,
})

const customer = entry('c1', { name: 'Acme Corp' })
const usdDeal = entry('d9', { title: 'Dollar deal', currency: 'USD' })
const context: ListContext = {
  users: new Map([['u1', 'Alice Archer']]),
  refs: { customers: new Map([['c1', customer]]), deals: new Map([['d9', usdDeal]]) },
}
const deals = columnsOf('deals')
const column = (key: string, collection: Parameters<typeof columnsOf>[0] = 'deals') => columnsOf(collection).find((c) => c.key === key)!

describe('list columns', () => {
  it('[LC1] ids read as names: a deal’s customer and owner; an invoice’s total is in its deal’s currency; a draft invoice reads as Draft', () => {
    const deal = entry('d1', { title: 'Big', customerId: 'c1', ownerId: 'u1', amount: 1200, currency: 'GBP' })
    expect(column('customerId').text(deal, context)).toBe('Acme Corp')
    expect(column('ownerId').text(deal, context)).toBe('Alice Archer')
    expect(column('amount').value(deal, context)).toBe(1200)
    expect(column('amount').text(deal, context)).toContain('1,200')
    const invoice = entry('i1', { dealId: 'd9' }, { total: 50 })
    expect(currencyOf(invoice, context)).toBe('USD')
    expect(column('total', 'invoices').value(invoice, context)).toBe(50)
    expect(column('number', 'invoices').text(invoice, context)).toBe('Draft')
    expect(column('number', 'invoices').text({ ...invoice, authority: { number: 'INV-7' } }, context)).toBe('INV-7')
    const taxed = entry('i2', { taxRate: 20 })
    expect(column('taxRate', 'invoices').value(taxed, context)).toBe(20)
    expect(column('taxRate', 'invoices').text(taxed, context)).toBe('20 %')
    expect(column('taxRate', 'invoices').text(invoice, context)).toBe('')
    expect(column('amount').value(entry('d2', {}), context)).toBeNull()
    expect(deals.map((c) => c.key)).toEqual(['title', 'customerId', 'stage', 'amount', 'closeDate', 'ownerId', 'leadId', 'updatedAt'])
  })

  it('[LC2] filters: one of some values (an owner’s id, or nobody), a number range, a date range; an empty filter keeps everything', () => {
    const a = entry('a', { stage: 'won', ownerId: 'u1', amount: 10, closeDate: '2026-03-01' })
    const b = entry('b', { stage: 'lead', amount: 500, closeDate: '2026-06-30' })
    const keep = (filter: ViewFilter) => [a, b].filter((e) => passes(e, filter, column(filter.column), context)).map((e) => e.id)
    expect(keep({ kind: 'in', column: 'stage', values: ['won'] })).toEqual(['a'])
    expect(keep({ kind: 'in', column: 'stage', values: [] })).toEqual(['a', 'b'])
    expect(keep({ kind: 'in', column: 'ownerId', values: ['u1'] })).toEqual(['a'])
    expect(keep({ kind: 'in', column: 'ownerId', values: [''] })).toEqual(['b'])
    expect(keep({ kind: 'range', column: 'amount', min: 100, max: null })).toEqual(['b'])
    expect(keep({ kind: 'range', column: 'amount', min: null, max: 10 })).toEqual(['a'])
    expect(keep({ kind: 'dates', column: 'closeDate', from: '2026-06-01', to: '' })).toEqual(['b'])
    expect(keep({ kind: 'dates', column: 'closeDate', from: '', to: '2026-03-01' })).toEqual(['a'])
    expect(keep({ kind: 'dates', column: 'closeDate', from: '', to: '' })).toEqual(['a', 'b'])
  })

  it('[LC3] sorting: numbers as numbers, names by the collator, empty values last in either direction', () => {
    const list = [entry('x', { amount: 9 }), entry('y', {}), entry('z', { amount: 100 })]
    expect(sortEntries([...list], column('amount'), 'asc', context).map((e) => e.id)).toEqual(['x', 'z', 'y'])
    expect(sortEntries([...list], column('amount'), 'desc', context).map((e) => e.id)).toEqual(['z', 'x', 'y'])
    const titles = [entry('1', { title: 'deal 10' }), entry('2', { title: 'Deal 9' })]
    expect(sortEntries(titles, column('title'), 'asc', context).map((e) => e.title)).toEqual(['Deal 9', 'deal 10'])
  })

  it('[LC4] the search looks through every column’s words, names of ids included', () => {
    const deal = entry('d1', { title: 'Renewal', customerId: 'c1', stage: 'negotiation' })
    const haystack = haystackOf(deal, deals, context)
    expect(matchesWords(haystack, 'acme NEGOTIATION')).toBe(true)
    expect(matchesWords(haystack, 'acme globex')).toBe(false)
  })
})

describe('pipeline sums', () => {
  it('[PS1] amounts are summed per currency, never across, and weighted by the stage’s odds', () => {
    const totals = totalsByCurrency([
      { stage: 'negotiation', amount: 20_000, currency: 'EUR' },
      { stage: 'lead', amount: 1000, currency: 'USD' },
      { stage: 'won', amount: 500, currency: 'EUR' },
      { stage: 'lost', amount: 7000, currency: 'USD' },
    ])
    expect(totals).toEqual([
      { currency: 'EUR', amount: 20_500, weighted: 15_500 },
      { currency: 'USD', amount: 8000, weighted: 100 },
    ])
    expect(totalsByCurrency([])).toEqual([])
  })
})
