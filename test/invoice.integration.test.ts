import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authorityOf, fieldsOf } from '../shared/docLayout.js'
import { eventProvider } from './calendar.helpers.js'
import { type Api, type SeededUsers, type TestServer, loginAs, startSeeded, startServer, synced, tempDir, until } from './helpers/server.js'

let dir: string
let t: TestServer
let owner: Api
let users: SeededUsers

beforeAll(async () => {
  dir = tempDir('accord-invoices-')
  ;({
    t,
    users,
    api: { owner },
  } = await startSeeded(['owner'], { db: join(dir, 'accord.db') }, 'inv'))
})
afterAll(async () => {
  await t.close()
  rmSync(dir, { recursive: true, force: true })
})

async function draft(): Promise<string> {
  const res = await owner.request('POST', '/api/records/invoices', {
    customerId: 'c1',
    items: [{ description: 'Work', quantity: 1, unitPrice: 100 }],
  })
  expect(res.status).toBe(201)
  expect(res.body.status).toBe('draft')
  return res.body.id as string
}

function numbers(): Map<string, number> {
  const rows = t.server.db.prepare("SELECT id, authority FROM records WHERE workspace = 'inv' AND collection = 'invoices'").all() as {
    id: string
    authority: string
  }[]
  const out = new Map<string, number>()
  for (const row of rows) {
    const n = (JSON.parse(row.authority) as { number?: number }).number
    if (n !== undefined) out.set(row.id, n)
  }
  return out
}

describe('invoice numbers', () => {
  it('[N1] 200 invoices sent at once (REST and live editors) get 200 distinct, consecutive numbers', async () => {
    const ids = await Promise.all(Array.from({ length: 200 }, () => draft()))
    const untouched = await draft()
    const live = ids.slice(0, 20).map((id) => eventProvider(t.wsUrl, `inv/invoices/${id}`, owner.token))
    await Promise.all(live.map(synced))
    live.forEach((p) => fieldsOf(p.doc).set('status', 'sent'))
    const rest = await Promise.all(ids.slice(20).map((id) => owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'sent' })))
    expect(rest.every((r) => r.status === 200)).toBe(true)
    await until(() => ids.every((id) => numbers().has(id)), 'every sent invoice numbered')
    const assigned = ids.map((id) => numbers().get(id)!).sort((a, b) => a - b)
    expect(assigned).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    expect(numbers().has(untouched)).toBe(false)
    await until(() => live.every((p, i) => authorityOf(p.doc).get('number') === numbers().get(ids[i]!)), 'editors see their numbers')
    live.forEach((p) => p.destroy())
  })

  it('[N2] a number is never reassigned: back to draft, sent again, voided, or forged by a client', async () => {
    const id = await draft()
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'sent' })
    await until(() => numbers().has(id), 'numbered')
    const n = numbers().get(id)!
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
    await until(() => numbers().has(voided), 'voided invoice numbered')
    expect(numbers().has(deleted)).toBe(false)
  })

  it('[N4] an invoice that left draft while numbering was not running (a crash) is numbered at the next start', async () => {
    t.server.invoices.close()
    const id = await draft()
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'sent' })
    expect(numbers().has(id)).toBe(false)
    await t.server.close()
    t = await startServer({ db: t.dbFile })
    ;({ owner } = await loginAs(t.url, users, ['owner']))
    await until(() => numbers().has(id), 'numbered at start-up')
  })

  it('[N5] numbering continues without a gap after a restart', async () => {
    const before = Math.max(...numbers().values())
    await t.server.close()
    t = await startServer({ db: t.dbFile })
    ;({ owner } = await loginAs(t.url, users, ['owner']))
    const id = await draft()
    await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'paid' })
    await until(() => numbers().has(id), 'numbered after restart')
    expect(numbers().get(id)).toBe(before + 1)
    const all = [...numbers().values()].sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1))
  })
})
