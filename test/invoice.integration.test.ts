import { afterAll, beforeAll, expect, it } from 'vitest'
import { authorityOf, fieldsOf } from '../shared/docLayout.js'
import { eventProvider } from './calendar.helpers.js'
import { describeBackends, query, restartSeeded } from './helpers/backends.js'
import { type Api, type SeededUsers, type TestServer, startSeeded, synced, until } from './helpers/server.js'

describeBackends('invoice numbers', (backend) => {
  let t: TestServer
  let owner: Api
  let users: SeededUsers

  beforeAll(async () => {
    ;({
      t,
      users,
      api: { owner },
    } = await startSeeded(['owner'], backend.options(), 'inv'))
  })
  afterAll(() => t.close())

  async function draft(): Promise<string> {
    const res = await owner.request('POST', '/api/records/invoices', {
      customerId: 'c1',
      items: [{ description: 'Work', quantity: 1, unitPrice: 100 }],
    })
    expect(res.status).toBe(201)
    expect(res.body.status).toBe('draft')
    return res.body.id as string
  }

  /** The numbers stored in the invoices' projections, by invoice id. */
  async function numbers(): Promise<Map<string, number>> {
    const rows = await query<{ id: string; authority: string }>(
      t.server,
      "SELECT id, authority FROM records WHERE workspace = 'inv' AND collection = 'invoices'",
    )
    const out = new Map<string, number>()
    for (const row of rows) {
      const n = (JSON.parse(row.authority) as { number?: number }).number
      if (n !== undefined) out.set(row.id, n)
    }
    return out
  }

  const restartServer = async () => {
    ;({
      t,
      users,
      api: { owner },
    } = await restartSeeded(t, users, ['owner']))
  }

  it('[N1] 200 invoices sent at once (REST and live editors) get 200 distinct, consecutive numbers', async () => {
    const ids = await Promise.all(Array.from({ length: 200 }, () => draft()))
    const untouched = await draft()
    const live = ids.slice(0, 20).map((id) => eventProvider(t.wsUrl, `inv/invoices/${id}`, owner.token))
    await Promise.all(live.map(synced))
    live.forEach((p) => fieldsOf(p.doc).set('status', 'sent'))
    const rest = await Promise.all(ids.slice(20).map((id) => owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'sent' })))
    expect(rest.every((r) => r.status === 200)).toBe(true)
    let stored = new Map<string, number>()
    await until(async () => {
      stored = await numbers()
      return ids.every((id) => stored.has(id))
    }, 'every sent invoice numbered')
    const assigned = ids.map((id) => stored.get(id)!).sort((a, b) => a - b)
    expect(assigned).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    expect(stored.has(untouched)).toBe(false)
    await until(() => live.every((p, i) => authorityOf(p.doc).get('number') === stored.get(ids[i]!)), 'editors see their numbers')
    live.forEach((p) => p.destroy())
  })

  it('[N2] a number is never reassigned: back to draft, sent again, voided, or forged by a client', async () => {
    const id = await draft()
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'sent' })
    await until(async () => (await numbers()).has(id), 'numbered')
    const n = (await numbers()).get(id)!
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'draft' })
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'void' })
    const p = eventProvider(t.wsUrl, `inv/invoices/${id}`, owner.token)
    await synced(p)
    authorityOf(p.doc).set('number', 1)
    await until(() => authorityOf(p.doc).get('number') === n, 'forged number reverted')
    expect((await owner.request('GET', `/api/records/invoices/${id}`)).body).toMatchObject({ status: 'void', number: n })
    p.destroy()
  })

  it('[N3] a draft voided or deleted without ever being sent: voiding numbers it, deleting a draft does not', async () => {
    const voided = await draft()
    const deleted = await draft()
    await owner.request('PATCH', `/api/records/invoices/${voided}`, { status: 'void' })
    expect((await owner.request('DELETE', `/api/records/invoices/${deleted}`)).status).toBe(204)
    await until(async () => (await numbers()).has(voided), 'voided invoice numbered')
    expect((await numbers()).has(deleted)).toBe(false)
  })

  it('[N4] an invoice that left draft while numbering was not running (a crash) is numbered at the next start', async () => {
    await t.server.invoices.close()
    const id = await draft()
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'sent' })
    expect((await numbers()).has(id)).toBe(false)
    await restartServer()
    await until(async () => (await numbers()).has(id), 'numbered at start-up')
  })

  it('[N5] numbering continues without a gap after a restart', async () => {
    const before = Math.max(...(await numbers()).values())
    await restartServer()
    const id = await draft()
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'paid' })
    await until(async () => (await numbers()).has(id), 'numbered after restart')
    const after = await numbers()
    expect(after.get(id)).toBe(before + 1)
    const all = [...after.values()].sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1))
  })
})
