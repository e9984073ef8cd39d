/**
 * Saved list views and the trash listing, on both backends: the ViewStore contract against the
 * server's own store, and `/api/views` and `GET /api/records/:collection?deleted=true` over HTTP;
 * and the line items' total that the lists read from an invoice's index entry.
 * A view belongs to one person; it survives a restart of the server on the same database.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { indexEntriesOf } from '../shared/docLayout.js'
import { MAX_VIEWS_PER_USER, type ViewBody } from '../shared/views.js'
import { describeBackends, restartSeeded } from './helpers/backends.js'
import { type Seeded, login, startSeeded, until } from './helpers/server.js'

const openDeals: ViewBody = {
  collection: 'deals',
  name: 'Open deals over 1000',
  columns: ['title', 'customer', 'stage', 'amount'],
  sort: { column: 'amount', direction: 'desc' },
  filters: [
    { kind: 'in', column: 'stage', values: ['lead', 'qualified'] },
    { kind: 'range', column: 'amount', min: 1000, max: null },
    { kind: 'dates', column: 'closeDate', from: '2026-01-01', to: '' },
  ],
}

describeBackends('saved views and the trash', (backend) => {
  let seeded: Seeded<'owner' | 'member' | 'viewer'>
  beforeAll(async () => {
    seeded = await startSeeded(['owner', 'member', 'viewer'], backend.options(), 'views')
  })
  afterAll(() => seeded.t.close())

  it('[VS1] the store: put creates and replaces, list is per person by collection then name, remove says whether it removed', async () => {
    const store = seeded.t.server.backend.views
    const alice = { workspace: 'w1', userId: 'alice' }
    const bob = { workspace: 'w1', userId: 'bob' }
    const stored = await store.put(alice, 'v2', openDeals, Date.UTC(2026, 0, 2))
    expect(stored).toEqual({ id: 'v2', ...openDeals, updatedAt: '2026-01-02T00:00:00.000Z' })
    await store.put(alice, 'v1', { ...openDeals, collection: 'customers', name: 'Mine', filters: [] }, 1)
    await store.put(alice, 'v3', { ...openDeals, name: 'A first' }, 2)
    await store.put(bob, 'v2', { ...openDeals, name: 'Bob’s' }, 3)
    expect((await store.list(alice)).map((v) => [v.collection, v.name])).toEqual([
      ['customers', 'Mine'],
      ['deals', 'A first'],
      ['deals', 'Open deals over 1000'],
    ])
    await store.put(alice, 'v2', { ...openDeals, sort: null, columns: [] }, 5)
    const replaced = (await store.list(alice)).find((v) => v.id === 'v2')!
    expect(replaced).toEqual({ id: 'v2', ...openDeals, sort: null, columns: [], updatedAt: new Date(5).toISOString() })
    expect(await store.remove(alice, 'v2')).toBe(true)
    expect(await store.remove(alice, 'v2')).toBe(false)
    expect((await store.list(bob)).map((v) => v.name)).toEqual(['Bob’s'])
    expect(await store.list({ workspace: 'w2', userId: 'alice' })).toEqual([])
  })

  it('[VS2] PUT /api/views/:id saves a view for its person only (a viewer too); GET lists them, by collection on request; DELETE removes', async () => {
    const put = await seeded.api.member.request('PUT', '/api/views/open-deals', openDeals)
    expect(put.status).toBe(200)
    expect(put.body).toMatchObject({ id: 'open-deals', ...openDeals })
    expect((await seeded.api.viewer.request('PUT', '/api/views/mine', { ...openDeals, name: 'Viewer’s' })).status).toBe(200)
    expect((await seeded.api.member.request('GET', '/api/views')).body.items.map((v: { id: string }) => v.id)).toEqual(['open-deals'])
    expect((await seeded.api.member.request('GET', '/api/views?collection=customers')).body.items).toEqual([])
    expect((await seeded.api.member.request('GET', '/api/views?collection=deals')).body.items).toEqual([put.body])
    expect((await seeded.api.owner.request('GET', '/api/views')).body.items).toEqual([])
    // Another person cannot delete it: for them there is no such view.
    expect((await seeded.api.owner.request('DELETE', '/api/views/open-deals')).status).toBe(404)
    expect((await seeded.api.member.request('DELETE', '/api/views/open-deals')).status).toBe(204)
    expect((await seeded.api.member.request('GET', '/api/views')).body.items).toEqual([])
    expect((await seeded.api.viewer.request('GET', '/api/views')).body.items.map((v: { name: string }) => v.name)).toEqual(['Viewer’s'])
  })

  it('[VS3] a bad view is refused with the contract’s error and its issues, and nothing is stored', async () => {
    const bad = [
      ['/api/views/ok', { ...openDeals, name: '  ' }, 'name'],
      ['/api/views/ok', { ...openDeals, collection: 'planets' }, 'collection'],
      ['/api/views/ok', { ...openDeals, filters: [{ kind: 'range', column: 'amount', min: 'lots', max: null }] }, 'filters.0.min'],
      ['/api/views/ok', { ...openDeals, filters: [{ kind: 'dates', column: 'closeDate', from: 'yesterday', to: '' }] }, 'filters.0.from'],
      ['/api/views/ok', { ...openDeals, sort: { column: 'amount', direction: 'sideways' } }, 'sort.direction'],
      ['/api/views/ok', { ...openDeals, extra: 1 }, ''],
      ['/api/views/not%20ok', openDeals, 'id'],
    ] as const
    for (const [path, body, at] of bad) {
      const res = await seeded.api.member.request('PUT', path, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error.code).toBe('invalid')
      expect(res.body.error.issues[0].path).toBe(at)
    }
    expect((await seeded.api.member.request('GET', '/api/views?collection=planets')).status).toBe(404)
    expect((await seeded.api.member.request('GET', '/api/views')).body.items).toEqual([])
  })

  it('[VS4] one person keeps at most MAX_VIEWS_PER_USER views; replacing one still works at the limit', async () => {
    const store = seeded.t.server.backend.views
    const member2 = { workspace: 'views', userId: seeded.users.member2.id }
    for (let i = 0; i < MAX_VIEWS_PER_USER; i++) await store.put(member2, `v${i}`, { ...openDeals, name: `View ${i}` }, i)
    const api = await login(seeded.t.url, seeded.users.member2.email, seeded.users.member2.password)
    const refused = await api.request('PUT', '/api/views/one-more', openDeals)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('too-many')
    expect((await api.request('PUT', '/api/views/v7', { ...openDeals, name: 'Renamed' })).status).toBe(200)
    expect((await store.list(member2)).length).toBe(MAX_VIEWS_PER_USER)
  })

  it('[TR1] GET ?deleted=true lists the deleted records with who deleted them and when; a restored one leaves it', async () => {
    const a = (await seeded.api.member.request('POST', '/api/records/deals', { title: 'Trashed A', amount: 5 })).body.id as string
    const b = (await seeded.api.member.request('POST', '/api/records/deals', { title: 'Kept B' })).body.id as string
    const before = Date.now()
    expect((await seeded.api.member.request('DELETE', `/api/records/deals/${a}`)).status).toBe(204)
    const trash = await seeded.api.viewer.request('GET', '/api/records/deals?deleted=true')
    expect(trash.status).toBe(200)
    expect(trash.body.items.map((r: { id: string }) => r.id)).toEqual([a])
    const [trashed] = trash.body.items
    expect(trashed).toMatchObject({ title: 'Trashed A', amount: 5, deletedBy: seeded.users.member.id })
    expect(Date.parse(trashed.deleted)).toBeGreaterThanOrEqual(before - 1000)
    const live = (await seeded.api.member.request('GET', '/api/records/deals?deleted=false')).body.items.map((r: { id: string }) => r.id)
    expect(live).toContain(b)
    expect(live).not.toContain(a)
    expect((await seeded.api.member.request('GET', '/api/records/deals?deleted=yes')).status).toBe(400)
    expect((await seeded.api.member.request('POST', `/api/records/deals/${a}/restore`)).status).toBe(204)
    expect((await seeded.api.member.request('GET', '/api/records/deals?deleted=true')).body.items).toEqual([])
    expect((await seeded.api.member.request('GET', `/api/records/deals/${a}`)).status).toBe(200)
  })

  it('[TR2] an invoice’s index entry carries its line items’ total, kept up to date as the items change', async () => {
    const member = seeded.api.member
    const items = [{ description: 'Day', quantity: 2, unitPrice: 150 }]
    const id = (await member.request('POST', '/api/records/invoices', { status: 'draft', items })).body.id as string
    const totalInIndex = () => seeded.t.server.registry.use('views/index/invoices', (room) => indexEntriesOf(room.doc).get(id)?.total)
    await until(async () => (await totalInIndex()) === 300, 'the total in the index')
    const patched = await member.request('PATCH', `/api/records/invoices/${id}`, {
      items: [...items, { description: 'Travel', quantity: 1, unitPrice: 45.5 }],
    })
    expect(patched.status).toBe(200)
    await until(async () => (await totalInIndex()) === 345.5, 'the new total in the index')
    expect(
      await seeded.t.server.registry.use('views/index/deals', (room) =>
        [...indexEntriesOf(room.doc).values()].every((e) => e.total === undefined),
      ),
    ).toBe(true)
  })

  it('[TR3] an index entry written before entries carried a total gets it when its index document next loads', async () => {
    const member = seeded.api.member
    const items = [{ description: 'Licences', quantity: 3, unitPrice: 40 }]
    const id = (await member.request('POST', '/api/records/proposals', { title: 'Old proposal', status: 'draft', items })).body.id as string
    const entryOf = (server: typeof seeded.t.server) =>
      server.registry.use('views/index/proposals', (room) => indexEntriesOf(room.doc).get(id))
    await until(async () => (await entryOf(seeded.t.server))?.total === 120, 'the total in the index')
    // As an older version wrote it: the same entry without its total.
    await seeded.t.server.registry.use('views/index/proposals', (room) => {
      const entries = indexEntriesOf(room.doc)
      const { total: _dropped, ...older } = entries.get(id)!
      room.doc.transact(() => entries.set(id, older))
    })
    expect((await entryOf(seeded.t.server))?.total).toBeUndefined()
    seeded = { ...seeded, ...(await restartSeeded(seeded.t, seeded.users, ['owner', 'member', 'viewer'])) }
    await until(async () => (await entryOf(seeded.t.server))?.total === 120, 'the total filled in after the restart')
    expect((await entryOf(seeded.t.server))?.title).toBe('Old proposal')
  })

  it('[VS5] views survive a restart of the server on the same database', async () => {
    expect((await seeded.api.member.request('PUT', '/api/views/kept', openDeals)).status).toBe(200)
    seeded = { ...seeded, ...(await restartSeeded(seeded.t, seeded.users, ['owner', 'member', 'viewer'])) }
    expect((await seeded.api.member.request('GET', '/api/views')).body.items).toMatchObject([{ id: 'kept', ...openDeals }])
  })
})
