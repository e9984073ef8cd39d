/**
 * What a security probe of the morning's new surface found, held down through the real
 * server: a list's `q` as long as a URL (a search that held the server for most of a
 * minute), fields named after Object's own properties (`constructor`, `__proto__`: a 500
 * over REST, a closed socket and a stuck client over sync, an authority key that stayed),
 * and saved views PostgreSQL could not store (a 500 there).
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import { authorityOf, fieldsOf, INBOX_NOTIFICATIONS, itemsOf, notesOf } from '../shared/docLayout.js'
import { inboxDocName } from '../shared/docNames.js'
import { MAX_SEARCH_LENGTH } from '../shared/search.js'
import { describeBackends } from './helpers/backends.js'
import { type Api, type SeededUsers, type TestServer, provider, startSeeded, synced, until } from './helpers/server.js'
import { captureNotices, closeCodes, tracked } from './helpers/trust.js'

/** The mention budget of the suite's server (LIMITS.MENTION_NOTICES_BURST), small enough to spend. */
const MENTION_BURST = 3
const OBJECT_KEYS = ['constructor', '__proto__', 'toString', 'hasOwnProperty'] as const

describeBackends('security probe', (backend) => {
  let t: TestServer
  let member: Api
  let owner: Api
  let member2: Api
  let users: SeededUsers
  const open: WebsocketProvider[] = []

  beforeAll(async () => {
    const seeded = await startSeeded(['member', 'owner', 'member2'], {
      ...backend.options(),
      limits: { MENTION_NOTICES_BURST: MENTION_BURST },
    })
    ;({ t, users } = seeded)
    ;({ member, owner, member2 } = seeded.api)
  })
  afterAll(async () => {
    open.splice(0).forEach((p) => p.destroy())
    await t.close()
  })

  it('[SP1] a list’s q is one text of at most MAX_SEARCH_LENGTH characters, as the search’s: longer or repeated is a 400, not a scan', async () => {
    const { body: created } = await member.request('POST', '/api/records/customers', { name: 'Probe Ltd' })
    const longest = 'x'.repeat(MAX_SEARCH_LENGTH)
    expect((await member.request('GET', `/api/records/customers?q=${longest}`)).status).toBe(200)
    const tooLong = await member.request('GET', `/api/records/customers?q=${longest}x`)
    expect(tooLong.status).toBe(400)
    expect(tooLong.body.error).toMatchObject({
      code: 'invalid',
      issues: [{ path: 'q', message: `at most ${MAX_SEARCH_LENGTH} characters` }],
    })
    const twice = await member.request('GET', '/api/records/customers?q=Probe&q=Ltd')
    expect(twice.status).toBe(400)
    expect(twice.body.error).toMatchObject({ code: 'invalid', issues: [{ path: 'q' }] })
    const found = await member.request('GET', '/api/records/customers?q=probe%20ltd')
    expect(found.body.items.map((r: { id: string }) => r.id)).toEqual([created.id])
  })

  it('[SP2] a field named after an Object property is an unknown field (400) in a create, a patch, a conversion and an invoice', async () => {
    const { body: customer } = await member.request('POST', '/api/records/customers', { name: 'Keys' })
    const { body: lead } = await member.request('POST', '/api/records/leads', { name: 'Lead of keys' })
    const { body: deal } = await member.request('POST', '/api/records/deals', { title: 'Won', stage: 'won', amount: 10 })
    for (const key of OBJECT_KEYS) {
      const raw = (value: string) => `{"${key}": ${value}}`
      for (const [method, path, body, prefix] of [
        ['POST', '/api/records/customers', `{"name": "x", "${key}": "y"}`, ''],
        ['PATCH', `/api/records/customers/${customer.id}`, raw('"y"'), ''],
        ['POST', `/api/records/leads/${lead.id}/convert`, `{"deal": ${raw('{"a": 1}')}}`, 'deal.'],
        ['POST', `/api/records/deals/${deal.id}/invoice`, raw('"y"'), ''],
      ] as const) {
        const answer = await member.request(method, path, body)
        expect(answer.status, `${method} ${path} with ${key}`).toBe(400)
        expect(answer.body.error).toMatchObject({
          code: 'invalid',
          issues: [{ path: `${prefix}${key}`, message: expect.stringContaining('unknown field') }],
        })
      }
    }
    // Nothing was written: the lead is not converted, the customer unchanged.
    expect((await member.request('GET', `/api/records/leads/${lead.id}`)).body.status).toBe('new')
    expect(Object.keys((await member.request('GET', `/api/records/customers/${customer.id}`)).body)).not.toContain('toString')
  })

  it('[SP3] over sync, fields, authority and line-item keys named after Object properties are reverted like any other; the socket stays open', async () => {
    const { body } = await owner.request('POST', '/api/records/invoices', {
      items: [{ description: 'one', quantity: 1, unitPrice: 5 }],
    })
    const sender = tracked(open, provider(t.wsUrl, `acme/invoices/${body.id}`, member.token, { params: { notices: '1' } }))
    const notices = captureNotices(sender)
    const closes = closeCodes(sender)
    const other = tracked(open, provider(t.wsUrl, `acme/invoices/${body.id}`, owner.token))
    await Promise.all([synced(sender), synced(other)])
    for (const key of OBJECT_KEYS) {
      sender.doc.transact(() => {
        fieldsOf(sender.doc).set(key, 'x')
        authorityOf(sender.doc).set(key, 'x')
        ;(itemsOf(sender.doc).get(0) as Y.Map<unknown>).set(key, 'x')
      })
    }
    // A later valid edit arrives: the socket carried on past the refused ones.
    fieldsOf(sender.doc).set('dueDate', '2031-01-02')
    await until(() => fieldsOf(other.doc).get('dueDate') === '2031-01-02', 'the valid edit at the other client')
    await until(() => notices.length >= OBJECT_KEYS.length, 'the sender told of each refusal')
    const keysOf = (p: WebsocketProvider) => [
      ...fieldsOf(p.doc).keys(),
      ...authorityOf(p.doc).keys(),
      ...(itemsOf(p.doc).get(0) as Y.Map<unknown>).keys(),
    ]
    await until(() => !keysOf(sender).some((k) => (OBJECT_KEYS as readonly string[]).includes(k)), 'the keys gone at the sender')
    expect(keysOf(other).filter((k) => (OBJECT_KEYS as readonly string[]).includes(k))).toEqual([])
    expect(closes).toEqual([])
    for (const notice of notices) expect(notice.type).toBe('rejected')
    await t.server.registry.flushed()
    const stored = await owner.request('GET', `/api/records/invoices/${body.id}`)
    expect(stored.body).toMatchObject({ dueDate: '2031-01-02', items: [{ description: 'one', quantity: 1, unitPrice: 5 }] })
    expect(Object.keys(stored.body).filter((k) => (OBJECT_KEYS as readonly string[]).includes(k))).toEqual([])
  })

  it('[SP4] a saved view with a NUL or a lone surrogate is refused (400) on both backends; a well-formed one is kept', async () => {
    const view = { collection: 'customers', name: 'Mine', columns: ['name'], sort: null, filters: [] }
    for (const [body, path] of [
      [{ ...view, columns: ['a\u0000b'] }, 'columns.0'],
      [{ ...view, name: 'x\uD800' }, 'name'],
      [{ ...view, columns: ['\uDC00name'] }, 'columns.0'],
      [{ ...view, filters: [{ kind: 'in', column: 'tags', values: ['\u0000'] }] }, 'filters.0.values.0'],
      [{ ...view, sort: { column: 'n\uD800', direction: 'asc' } }, 'sort.column'],
    ] as const) {
      const answer = await member.request('PUT', '/api/views/odd', body)
      expect(answer.status, path).toBe(400)
      expect(answer.body.error).toMatchObject({ code: 'invalid', issues: [{ path }] })
    }
    const kept = { ...view, name: 'Emoji 😀', filters: [{ kind: 'in', column: 'tags', values: ['😀'] }] }
    expect((await member.request('PUT', '/api/views/odd', kept)).status).toBe(200)
    expect((await member.request('GET', '/api/views')).body.items).toMatchObject([{ id: 'odd', name: 'Emoji 😀', filters: kept.filters }])
  })

  it('[SP5] one member mentioning a colleague in record after record notifies them MENTION_NOTICES_BURST times, not more; another member still gets through', async () => {
    const inbox = tracked(open, provider(t.wsUrl, inboxDocName('acme', users.owner.id), owner.token))
    await synced(inbox)
    const fromWhom = () =>
      inbox.doc
        .getArray<{ by: { id: string } }>(INBOX_NOTIFICATIONS)
        .toArray()
        .map((n) => n.by.id)
    const mentionIn = async (api: Api) => {
      const { body } = await api.request('POST', '/api/records/deals', { title: 'Spam' })
      const p = tracked(open, provider(t.wsUrl, `acme/deals/${body.id}`, api.token))
      await synced(p)
      notesOf(p.doc).insert(0, '@owner', { mention: users.owner.id })
      await until(async () => (await api.request('GET', `/api/records/deals/${body.id}`)).body.notes === '@owner', 'the mention stored')
    }
    for (let i = 0; i < MENTION_BURST + 3; i++) await mentionIn(member)
    await mentionIn(member2)
    // member2's came last: when it is there, every earlier mention has been handled.
    await until(() => fromWhom().includes(users.member2.id), 'the other member’s mention notified')
    await t.server.registry.flushed()
    expect(fromWhom().filter((id) => id === users.member.id)).toHaveLength(MENTION_BURST)
  })

  it('[SP6] a request Node’s parser refuses (a URL over the header size, bytes that are not HTTP) is answered in the error format; the server serves on', async () => {
    const long = await fetch(`${t.url}/api/records/deals?q=${'a'.repeat(20_000)}`, { headers: { authorization: `Bearer ${member.token}` } })
    expect(long.status).toBe(431)
    expect(await long.json()).toEqual({ error: { code: 'too-large', message: expect.any(String) } })
    const { port } = new URL(t.url)
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'))
      let answer = ''
      socket.on('data', (chunk) => {
        answer += chunk.toString()
      })
      socket.on('end', () => resolve(answer))
      socket.on('error', reject)
    })
    expect(raw).toMatch(/^HTTP\/1\.1 400 /)
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'invalid', message: expect.any(String), issues: [] },
    })
    expect((await member.request('GET', '/api/records/deals?limit=1')).status).toBe(200)
  })
})
