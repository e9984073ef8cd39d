/**
 * The sales workflow over the REST API on a real server: converting a lead, invoicing a won
 * deal or an accepted proposal, tasks, ISO 4217 currencies, the invoice tax rate and the
 * workspace's name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeBackends } from './helpers/backends.js'
import { type Api, type TestServer, loginAs, seedWorkspace, startSeeded } from './helpers/server.js'

describeBackends('sales workflow', (backend) => {
  let t: TestServer
  let owner: Api
  let viewer: Api

  beforeAll(async () => {
    ;({
      t,
      api: { owner, viewer },
    } = await startSeeded(['owner', 'viewer'], backend.options()))
  })
  afterAll(() => t.close())

  const create = async (collection: string, body: Record<string, unknown>) => {
    const res = await owner.request('POST', `/api/records/${collection}`, body)
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return res.body as Record<string, any>
  }

  describe('converting a lead', () => {
    it('makes a customer with its notes and a deal, both linking back; the lead is converted and links to them', async () => {
      const lead = await create('leads', {
        name: 'Dana Scully',
        company: 'Hoover Corp',
        email: 'dana@hoover.test',
        ownerId: owner.userId,
        notes: 'Met at the fair; wants a pilot.',
      })
      const res = await owner.request('POST', `/api/records/leads/${lead.id}/convert`, { deal: { amount: 12000, currency: 'USD' } })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      const { customer, deal } = res.body
      expect(customer).toMatchObject({
        name: 'Hoover Corp',
        company: 'Hoover Corp',
        email: 'dana@hoover.test',
        ownerId: owner.userId,
        leadId: lead.id,
        notes: 'Met at the fair; wants a pilot.',
      })
      expect(deal).toMatchObject({ title: 'Hoover Corp deal', customerId: customer.id, leadId: lead.id, amount: 12000, currency: 'USD' })
      const after = await owner.request('GET', `/api/records/leads/${lead.id}`)
      expect(after.body).toMatchObject({ status: 'converted', customerId: customer.id, dealId: deal.id, notes: lead.notes })
      expect((await owner.request('GET', `/api/records/customers/${customer.id}`)).status).toBe(200)
      expect((await owner.request('GET', `/api/records/deals/${deal.id}`)).body.customerId).toBe(customer.id)

      // Once only: a second conversion is refused and makes nothing.
      const before = (await owner.request('GET', '/api/records/customers?limit=200')).body.items.length
      const again = await owner.request('POST', `/api/records/leads/${lead.id}/convert`, {})
      expect(again.status).toBe(409)
      expect(again.body.error.code).toBe('conflict')
      expect((await owner.request('GET', '/api/records/customers?limit=200')).body.items.length).toBe(before)
    })

    it('two conversions of one lead at once: one wins, the other is refused', async () => {
      const lead = await create('leads', { name: 'Race Ltd' })
      const results = await Promise.all([0, 1].map(() => owner.request('POST', `/api/records/leads/${lead.id}/convert`, {})))
      expect(results.map((r) => r.status).sort()).toEqual([201, 409])
      const deals = (await owner.request('GET', '/api/records/deals?limit=200')).body.items.filter((d: any) => d.leadId === lead.id)
      expect(deals).toHaveLength(1)
    })

    it('invalid values for the new records are refused before anything changes; viewers cannot convert', async () => {
      const lead = await create('leads', { name: 'Careful Inc' })
      const res = await owner.request('POST', `/api/records/leads/${lead.id}/convert`, { deal: { currency: 'ABC' } })
      expect(res.status).toBe(400)
      expect(res.body.error.issues).toEqual([expect.objectContaining({ path: 'deal.currency' })])
      expect((await owner.request('GET', `/api/records/leads/${lead.id}`)).body.status).toBe('new')
      expect((await viewer.request('POST', `/api/records/leads/${lead.id}/convert`, {})).status).toBe(403)
      expect((await owner.request('POST', '/api/records/leads/nosuchlead/convert', {})).status).toBe(404)
    })
  })

  describe('invoices from deals and proposals', () => {
    it('a won deal is invoiced with the items of its accepted proposals; one not won is refused', async () => {
      const customer = await create('customers', { name: 'Invoiced Co' })
      const deal = await create('deals', {
        title: 'Big order',
        customerId: customer.id,
        stage: 'negotiation',
        amount: 900,
        currency: 'GBP',
      })
      const refused = await owner.request('POST', `/api/records/deals/${deal.id}/invoice`, {})
      expect(refused.status).toBe(409)
      await create('proposals', {
        title: 'Accepted one',
        dealId: deal.id,
        status: 'accepted',
        items: [{ description: 'Widgets', quantity: 3, unitPrice: 250 }],
      })
      await create('proposals', {
        title: 'Rejected one',
        dealId: deal.id,
        status: 'rejected',
        items: [{ description: 'No', quantity: 1, unitPrice: 1 }],
      })
      expect((await owner.request('PATCH', `/api/records/deals/${deal.id}`, { stage: 'won' })).status).toBe(200)
      const res = await owner.request('POST', `/api/records/deals/${deal.id}/invoice`, { taxRate: 20, dueDate: '2026-12-31' })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      expect(res.body).toMatchObject({
        customerId: customer.id,
        dealId: deal.id,
        currency: 'GBP',
        status: 'draft',
        taxRate: 20,
        dueDate: '2026-12-31',
        items: [{ description: 'Widgets', quantity: 3, unitPrice: 250 }],
      })
      expect(res.headers.get('etag')).toBeTruthy()
    })

    it('a won deal without an accepted proposal is invoiced for its amount', async () => {
      const deal = await create('deals', { title: 'Simple sale', stage: 'won', amount: 4200, currency: 'EUR' })
      const res = await owner.request('POST', `/api/records/deals/${deal.id}/invoice`, {})
      expect(res.status).toBe(201)
      expect(res.body.items).toEqual([{ description: 'Simple sale', quantity: 1, unitPrice: 4200 }])
    })

    it('an accepted proposal is invoiced with its items, its deal and customer; a draft one is refused; other collections have no invoice', async () => {
      const customer = await create('customers', { name: 'Proposal Buyer' })
      const deal = await create('deals', { title: 'Via proposal', customerId: customer.id, currency: 'CHF' })
      const items = [
        { description: 'Consulting', quantity: 10, unitPrice: 150 },
        { description: 'Travel', quantity: 1, unitPrice: 300 },
      ]
      const proposal = await create('proposals', { title: 'Offer', dealId: deal.id, status: 'draft', items })
      expect((await owner.request('POST', `/api/records/proposals/${proposal.id}/invoice`, {})).status).toBe(409)
      await owner.request('PATCH', `/api/records/proposals/${proposal.id}`, { status: 'accepted' })
      const res = await owner.request('POST', `/api/records/proposals/${proposal.id}/invoice`, {})
      expect(res.status).toBe(201)
      expect(res.body).toMatchObject({ dealId: deal.id, customerId: customer.id, proposalId: proposal.id, currency: 'CHF', items })
      expect((await owner.request('POST', `/api/records/customers/${customer.id}/invoice`, {})).status).toBe(404)
    })
  })

  describe('fields', () => {
    it('currencies are ISO 4217 codes: "ABC" is refused, the demo data’s EUR and other real codes are taken', async () => {
      const bad = await owner.request('POST', '/api/records/deals', { title: 'Odd money', currency: 'ABC' })
      expect(bad.status).toBe(400)
      expect(bad.body.error.issues).toEqual([{ path: 'currency', message: 'must be an ISO 4217 currency code such as EUR' }])
      for (const currency of ['EUR', 'USD', 'JPY', 'CHF']) await create('deals', { title: `In ${currency}`, currency })
      const deal = await create('deals', { title: 'Patched money' })
      expect((await owner.request('PATCH', `/api/records/deals/${deal.id}`, { currency: 'eur' })).status).toBe(400)
    })

    it('an invoice’s tax rate is a percentage from 0 to 100', async () => {
      expect((await owner.request('POST', '/api/records/invoices', { taxRate: 101 })).status).toBe(400)
      expect((await owner.request('POST', '/api/records/invoices', { taxRate: -1 })).status).toBe(400)
      expect((await owner.request('POST', '/api/records/invoices', { taxRate: '19' })).status).toBe(400)
      expect((await create('invoices', { taxRate: 19 })).taxRate).toBe(19)
    })

    it('tasks: a title is required, they may name any record and an assignee, and default to open', async () => {
      const customer = await create('customers', { name: 'Tasked' })
      expect((await owner.request('POST', '/api/records/tasks', { dueDate: '2026-12-01' })).status).toBe(400)
      const bad = await owner.request('POST', '/api/records/tasks', { title: 'Bad link', about: 'planets/earth' })
      expect(bad.status).toBe(400)
      expect(bad.body.error.issues[0].path).toBe('about')
      const task = await create('tasks', {
        title: 'Call back',
        about: `customers/${customer.id}`,
        assigneeId: owner.userId,
        dueDate: '2026-12-01',
        notes: 'Ask about the budget.',
      })
      expect(task).toMatchObject({ status: 'open', about: `customers/${customer.id}`, notes: 'Ask about the budget.' })
      expect((await owner.request('PATCH', `/api/records/tasks/${task.id}`, { status: 'done' })).body.status).toBe('done')
      expect((await owner.request('PATCH', `/api/records/tasks/${task.id}`, { status: 'finished' })).status).toBe(400)
      const list = await owner.request('GET', '/api/records/tasks')
      expect(list.body.items.map((r: { id: string }) => r.id)).toContain(task.id)
    })

    it('GET /api/workspace names the caller’s workspace', async () => {
      await t.server.auth.addWorkspace('initech', 'Initech Ltd')
      const { owner: other } = await loginAs(t.url, await seedWorkspace(t.server, 'initech'), ['owner'])
      expect((await other.request('GET', '/api/workspace')).body).toEqual({ id: 'initech', name: 'Initech Ltd' })
      expect((await owner.request('GET', '/api/workspace')).body.id).toBe('acme')
    })
  })
})
