/** Pure parts of the record page and the sales workflow: routes, linked records, task order, totals, references in words, the shared rules. */
import { describe, expect, it } from 'vitest'
import { checkField, isCurrencyCode, itemTotals, parseRecordRef } from '../shared/collections.js'
import type { IndexEntry } from '../shared/docLayout.js'
import { linkedGroups } from '../client/src/components/LinkedRecords.js'
import { sortTasks } from '../client/src/components/TaskList.js'
import { displayValue } from '../client/src/fieldDisplay.js'
import { isStepField } from '../client/src/fieldKinds.js'
import { parseRoute } from '../client/src/router.js'

const entry = (id: string, fields: Record<string, unknown>, title = id): IndexEntry => ({
  id,
  title,
  fields,
  authority: {},
  updatedAt: '2026-01-01T00:00:00Z',
  updatedBy: null,
})

describe('record page helpers', () => {
  it('routes: the create form, the printable invoice and My tasks; a record id stays a record', () => {
    expect(parseRoute('/customers/new')).toEqual({ screen: 'new', collection: 'customers' })
    expect(parseRoute('/tasks/new')).toEqual({ screen: 'new', collection: 'tasks' })
    expect(parseRoute('/invoices/abc123/print')).toEqual({ screen: 'invoice-print', id: 'abc123' })
    expect(parseRoute('/my-tasks')).toEqual({ screen: 'my-tasks' })
    expect(parseRoute('/tasks/abc123')).toEqual({ screen: 'record', collection: 'tasks', id: 'abc123' })
    expect(parseRoute('/deals/abc123/print')).toEqual({ screen: 'record', collection: 'deals', id: 'abc123' })
  })

  it('a customer’s linked records: its deals, their proposals, its invoices and only upcoming, uncancelled events, soonest first', () => {
    const now = Date.parse('2026-06-01T00:00:00Z')
    const refs = {
      deals: [entry('d1', { customerId: 'c1' }), entry('d2', { customerId: 'c2' })],
      proposals: [entry('p1', { dealId: 'd1' }), entry('p2', { dealId: 'd2' })],
      invoices: [entry('i1', { dealId: 'd1' }), entry('i2', { customerId: 'c1' }), entry('i3', { customerId: 'c2' })],
      events: [
        entry('late', { customerId: 'c1', start: '2026-07-02T09:00:00Z', end: '2026-07-02T10:00:00Z', status: 'scheduled' }),
        entry('soon', { customerId: 'c1', start: '2026-06-02T09:00:00Z', end: '2026-06-02T10:00:00Z', status: 'scheduled' }),
        entry('past', { customerId: 'c1', start: '2026-05-02T09:00:00Z', end: '2026-05-02T10:00:00Z', status: 'scheduled' }),
        entry('off', { customerId: 'c1', start: '2026-06-03T09:00:00Z', end: '2026-06-03T10:00:00Z', status: 'cancelled' }),
      ],
    }
    const groups = Object.fromEntries(linkedGroups('customers', 'c1', refs, now).map((g) => [g.collection, g.entries.map((e) => e.id)]))
    expect(groups).toEqual({ deals: ['d1'], proposals: ['p1'], invoices: ['i1', 'i2'], events: ['soon', 'late'] })
    const deal = Object.fromEntries(linkedGroups('deals', 'd1', refs, now).map((g) => [g.collection, g.entries.map((e) => e.id)]))
    expect(deal).toEqual({ proposals: ['p1'], invoices: ['i1'] })
    expect(linkedGroups('events', 'x', refs, now)).toEqual([])
  })

  it('tasks: open ones by due date (undated last), then done ones', () => {
    const tasks = [
      entry('done', { status: 'done', dueDate: '2026-01-01' }),
      entry('undated', { status: 'open' }),
      entry('later', { status: 'open', dueDate: '2026-03-01' }),
      entry('sooner', { status: 'open', dueDate: '2026-02-01' }),
    ]
    expect(sortTasks(tasks).map((t) => t.id)).toEqual(['sooner', 'later', 'undated', 'done'])
  })

  it('references read as names: a task’s record, a deal, a tax rate', () => {
    const refs = { customers: [entry('c1', {}, 'Acme Corp')], deals: [entry('d1', {}, 'Big deal')] }
    expect(displayValue('about', 'customers/c1', { users: [], refs, locale: 'en' })).toBe('Acme Corp')
    expect(displayValue('about', 'customers/gone', { users: [], refs, locale: 'en' })).toBe('gone')
    expect(displayValue('dealId', 'd1', { users: [], refs, locale: 'en' })).toBe('Big deal')
    expect(displayValue('taxRate', 19.5, { users: [], refs, locale: 'en' })).toBe('19.5 %')
    expect(isStepField('leads', 'customerId')).toBe(true)
    expect(isStepField('deals', 'customerId')).toBe(false)
  })
})

describe('shared rules', () => {
  it('currencies are ISO 4217 codes; an invoice total adds its tax, in cents', () => {
    expect(['EUR', 'USD', 'JPY', 'GBP'].every(isCurrencyCode)).toBe(true)
    expect(['ABC', 'eur', 'EURO', ''].some(isCurrencyCode)).toBe(false)
    expect(checkField('deals', 'currency', 'ABC')?.message).toBe('must be an ISO 4217 currency code such as EUR')
    expect(itemTotals([{ description: 'a', quantity: 3, unitPrice: 19.99 }], 19)).toEqual({ subtotal: 59.97, tax: 11.39, total: 71.36 })
    expect(itemTotals([], 20)).toEqual({ subtotal: 0, tax: 0, total: 0 })
  })

  it('a task’s `about` names a record of any collection, or nothing', () => {
    expect(parseRecordRef('deals/abc_1')).toEqual({ collection: 'deals', id: 'abc_1' })
    expect(parseRecordRef('')).toBeNull()
    expect(parseRecordRef('planets/earth')).toBeNull()
    expect(checkField('tasks', 'about', 'planets/earth')?.message).toBe('must name a record as <collection>/<id>')
    expect(checkField('tasks', 'about', 'customers/x/y')).not.toBeNull()
    expect(checkField('invoices', 'taxRate', 100)).toBeNull()
    expect(checkField('invoices', 'taxRate', 100.5)?.message).toBe('must be at most 100')
  })
})
