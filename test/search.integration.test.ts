/**
 * Search over HTTP on both backends: the records API's `q` matches values, never a field's
 * name, and `GET /api/search` finds records of every collection in one request, the caller's
 * workspace only, with where each matched.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { MAX_SEARCH_LENGTH } from '../shared/search.js'
import { describeBackends, query, restartSeeded } from './helpers/backends.js'
import { type Api, type SeededUsers, type TestServer, loginAs, seedWorkspace, startSeeded } from './helpers/server.js'

describeBackends('search', (backend) => {
  let t: TestServer
  let owner: Api
  let viewer: Api
  let stranger: Api
  let users: SeededUsers
  const ids: Record<string, string> = {}

  const create = async (api: Api, collection: string, body: Record<string, unknown>) => {
    const res = await api.request('POST', `/api/records/${collection}`, body)
    expect(res.status).toBe(201)
    return res.body.id as string
  }
  const search = (api: Api, query: string) => api.request('GET', `/api/search?${query}`)

  beforeAll(async () => {
    ;({
      t,
      users,
      api: { owner, viewer },
    } = await startSeeded(['owner', 'viewer'], backend.options()))
    ;({ owner: stranger } = await loginAs(t.url, await seedWorkspace(t.server, 'globex'), ['owner']))
    ids.fjordline = await create(owner, 'customers', {
      name: 'Fjordline Shipping',
      email: 'ops@fjordline.test',
      tags: ['vip', 'nordics'],
      notes: 'Met at the harbour fair in Bergen last spring. Interested in the zanzibarite cargo tracking add-on for the whole fleet.',
    })
    ids.norse = await create(owner, 'customers', { name: 'Norse Cargo', email: 'hello@norse.test', phone: '+47 555 0142' })
    ids.deal = await create(owner, 'deals', { title: 'Fjord retainer', amount: 17250.5, customerId: ids.fjordline })
    ids.gone = await create(owner, 'customers', { name: 'Fjordgone', notes: 'zanzibarite too' })
    expect((await owner.request('DELETE', `/api/records/customers/${ids.gone}`)).status).toBe(204)
    for (const n of [1, 2, 3]) await create(owner, 'leads', { name: `Fjord lead ${n}` })
    ids.stranger = await create(stranger, 'customers', { name: 'Fjord Stranger', email: 'x@globex.test', notes: 'zanzibarite' })
  })
  afterAll(() => t?.close())

  it('[SR1] the records API q: the key "email" matches no customer; a tag, a notes word and a number do', async () => {
    const names = async (collection: string, q: string) =>
      ((await owner.request('GET', `/api/records/${collection}?q=${encodeURIComponent(q)}`)).body.items as { id: string }[]).map(
        (r) => r.id,
      )
    expect((await owner.request('GET', '/api/records/customers')).body.items).toHaveLength(2)
    expect(await names('customers', 'email')).toEqual([])
    expect(await names('customers', 'name')).toEqual([])
    expect(await names('customers', '":"')).toEqual([])
    expect(await names('customers', 'NORDICS')).toEqual([ids.fjordline])
    expect(await names('customers', 'harbour')).toEqual([ids.fjordline])
    expect(await names('customers', '0142')).toEqual([ids.norse])
    expect(await names('deals', '7250.5')).toEqual([ids.deal])
    // A reference holds an id, which is no one's word.
    expect(await names('deals', ids.fjordline!)).toEqual([])
  })

  it('[SR2] GET /api/search: every collection in one answer, title matches first, where each matched', async () => {
    const fjord = await search(owner, 'q=fjord')
    expect(fjord.status).toBe(200)
    // Leads made in the same millisecond could come in either order: their order is not what this proves.
    const items = fjord.body.items as { collection: string; title: string }[]
    const leads = items.filter((i) => i.collection === 'leads').sort((a, b) => a.title.localeCompare(b.title))
    expect(items.map((i) => i.collection)).toEqual(['customers', 'leads', 'leads', 'leads', 'deals'])
    expect({ items: [items[0], ...leads, ...items.slice(4)] }).toEqual({
      items: [
        {
          collection: 'customers',
          id: ids.fjordline,
          title: 'Fjordline Shipping',
          match: { field: 'name', snippet: 'Fjordline Shipping' },
        },
        ...[1, 2, 3].map((n) => ({
          collection: 'leads',
          id: expect.any(String),
          title: `Fjord lead ${n}`,
          match: { field: 'name', snippet: `Fjord lead ${n}` },
        })),
        { collection: 'deals', id: ids.deal, title: 'Fjord retainer', match: { field: 'title', snippet: 'Fjord retainer' } },
      ],
    })
    const notes = await search(viewer, 'q=%20ZANZIBARITE%20')
    expect(notes.body.items).toEqual([
      {
        collection: 'customers',
        id: ids.fjordline,
        title: 'Fjordline Shipping',
        match: { field: 'notes', snippet: '…Bergen last spring. Interested in the zanzibarite cargo tracking add-on for the whole…' },
      },
    ])
    expect((await search(owner, 'q=vip')).body.items).toEqual([
      { collection: 'customers', id: ids.fjordline, title: 'Fjordline Shipping', match: { field: 'tags', snippet: 'vip' } },
    ])
    expect((await search(owner, 'q=17250')).body.items).toEqual([
      { collection: 'deals', id: ids.deal, title: 'Fjord retainer', match: { field: 'amount', snippet: '17250.5' } },
    ])
    expect((await search(owner, 'q=email')).body.items).toEqual([])
  })

  it('[SR3] at most `limit` records per collection; deleted records and other workspaces never appear', async () => {
    const two = (await search(owner, 'q=fjord&limit=2')).body.items as { collection: string; id: string }[]
    expect(two.map((i) => i.collection)).toEqual(['customers', 'leads', 'leads', 'deals'])
    const all = JSON.stringify((await search(owner, 'q=zanzibarite&limit=50')).body)
    expect(all).not.toContain(ids.gone)
    expect(all).not.toContain(ids.stranger)
    expect((await search(stranger, 'q=fjord')).body.items.map((i: { id: string }) => i.id)).toEqual([ids.stranger])
  })

  it('[SR4] a missing, blank or too long q and a bad limit are a 400 in the contract format; no session is a 401', async () => {
    for (const query of ['', 'q=', 'q=%20%20', `q=${'x'.repeat(MAX_SEARCH_LENGTH + 1)}`, 'q=a&limit=0', 'q=a&limit=51', 'q=a&limit=two']) {
      const res = await search(owner, query)
      expect(res.status, query).toBe(400)
      expect(res.body.error).toMatchObject({ code: 'invalid', message: 'the query is not valid' })
      expect(res.body.error.issues[0].path, query).toBe(query.includes('limit') ? 'limit' : 'q')
    }
    expect((await search(owner, `q=${'x'.repeat(MAX_SEARCH_LENGTH)}`)).body).toEqual({ items: [] })
    const anonymous = await fetch(`${t.url}/api/search?q=fjord`)
    expect(anonymous.status).toBe(401)
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthorized')
  })

  it('[SR5] records stored before search texts are searched by their JSON text until the next start fills them', async () => {
    await query(t.server, 'UPDATE records SET search_text = NULL')
    const customers = async (api: Api, q: string) =>
      ((await api.request('GET', `/api/records/customers?q=${q}`)).body.items as { id: string }[]).map((r) => r.id)
    expect(await customers(owner, 'email')).toEqual([ids.fjordline, ids.norse])
    // The search endpoint says where a record matched: a record that matched by a key alone is left out.
    expect((await search(owner, 'q=email')).body.items).toEqual([])
    ;({
      t,
      api: { owner },
    } = await restartSeeded(t, users, ['owner']))
    expect(await query(t.server, 'SELECT id FROM records WHERE search_text IS NULL')).toEqual([])
    expect(await customers(owner, 'email')).toEqual([])
    expect(await customers(owner, 'nordics')).toEqual([ids.fjordline])
  })
})
