/** The records API of the contract, and the live index documents behind the lists. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeBackends, query, restartSeeded } from './helpers/backends.js'
import { fieldsOf, indexEntriesOf, notesOf } from '../shared/docLayout.js'
import { INDEX_CONTENT_REFRESH_MS } from '../server/records/RecordIndex.js'
import {
  type Api,
  type TestServer,
  closeCodeOf,
  login,
  loginAs,
  provider,
  seedWorkspace,
  startSeeded,
  synced,
  until,
} from './helpers/server.js'

describeBackends('records', (backend) => {
  let t: TestServer
  let owner: Api
  let member: Api
  let viewer: Api
  let stranger: Api

  beforeAll(async () => {
    ;({
      t,
      api: { owner, member, viewer },
    } = await startSeeded(['owner', 'member', 'viewer'], backend.options()))
    ;({ owner: stranger } = await loginAs(t.url, await seedWorkspace(t.server, 'globex'), ['owner']))
  })
  afterAll(() => t.close())

  describe('records API', () => {
    it('creates, reads, lists with q and cursor paging, and soft-deletes', async () => {
      const names = ['Alpha Ltd', 'Beta GmbH', 'Gamma SA', 'Alphabet Inc', 'Delta plc']
      const ids: string[] = []
      for (const name of names) {
        const res = await owner.request('POST', '/api/records/customers', { name, tags: ['x'], notes: `about ${name}` })
        expect(res.status).toBe(201)
        expect(res.body).toMatchObject({ name, collection: 'customers', notes: `about ${name}`, updatedBy: owner.userId })
        ids.push(res.body.id)
      }
      const search = await owner.request('GET', '/api/records/customers?q=alpha')
      expect(search.body.items.map((r: { name: string }) => r.name).sort()).toEqual(['Alpha Ltd', 'Alphabet Inc'])

      const seen: string[] = []
      let cursor: string | null = null
      do {
        const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await owner.request(
          'GET',
          `/api/records/customers?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        )
        expect(page.body.items.length).toBeLessThanOrEqual(2)
        seen.push(...page.body.items.map((r) => r.id))
        cursor = page.body.nextCursor
      } while (cursor)
      expect(seen).toEqual(ids)

      expect((await owner.request('DELETE', `/api/records/customers/${ids[1]}`)).status).toBe(204)
      expect((await owner.request('GET', `/api/records/customers/${ids[1]}`)).status).toBe(404)
      expect((await owner.request('GET', '/api/records/customers')).body.items).toHaveLength(4)
      // Restored: back in reads and lists; restoring a live record is a 404.
      expect((await owner.request('POST', `/api/records/customers/${ids[1]}/restore`)).status).toBe(204)
      await until(async () => (await owner.request('GET', `/api/records/customers/${ids[1]}`)).status === 200, 'the restored record')
      expect((await owner.request('GET', '/api/records/customers')).body.items).toHaveLength(5)
      expect((await owner.request('POST', `/api/records/customers/${ids[1]}/restore`)).status).toBe(404)
    })

    it('If-Match gives compare-and-set: 412 when the record changed since', async () => {
      const created = await owner.request('POST', '/api/records/deals', { title: 'CAS' })
      const etag = created.headers.get('etag')!
      expect(etag).toBeTruthy()
      const first = await owner.request('PATCH', `/api/records/deals/${created.body.id}`, { amount: 1 }, { 'if-match': etag })
      expect(first.status).toBe(200)
      const stale = await owner.request('PATCH', `/api/records/deals/${created.body.id}`, { amount: 2 }, { 'if-match': etag })
      expect(stale.status).toBe(412)
      expect(stale.body.error.code).toBe('precondition-failed')
      expect((await owner.request('GET', `/api/records/deals/${created.body.id}`)).body.amount).toBe(1)
    })

    it('a change that only deletes (text cut from the notes, a field cleared) changes the ETag too', async () => {
      const created = await owner.request('POST', '/api/records/deals', { title: 'Cut', notes: 'keep this; cut this' })
      const id = created.body.id as string
      const before = created.headers.get('etag')!
      const editor = provider(t.wsUrl, `acme/deals/${id}`, owner.token)
      await synced(editor)
      // Deleting creates no new struct: the document's state vector does not move.
      notesOf(editor.doc).delete('keep this;'.length, ' cut this'.length)
      await until(async () => (await owner.request('GET', `/api/records/deals/${id}`)).body.notes === 'keep this;', 'the cut is saved')
      const after = (await owner.request('GET', `/api/records/deals/${id}`)).headers.get('etag')!
      expect(after).not.toBe(before)
      const stale = await owner.request('PATCH', `/api/records/deals/${id}`, { notes: 'keep this; cut this' }, { 'if-match': before })
      expect(stale.status).toBe(412)
      const fresh = await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 5 }, { 'if-match': after })
      expect(fresh.status).toBe(200)
      editor.destroy()
    })

    it('an ETag stored by an earlier version still matches a record not written since', async () => {
      const created = await owner.request('POST', '/api/records/deals', { title: 'Stored before the upgrade' })
      const id = created.body.id as string
      // What a row written by an earlier version holds: an ETag of another formula.
      await query(t.server, 'UPDATE records SET etag = ? WHERE workspace = ? AND id = ?', ['earlierFormula01', 'acme', id])
      const got = await owner.request('GET', `/api/records/deals/${id}`)
      expect(got.headers.get('etag')).toBe('"earlierFormula01"')
      expect((await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 3 }, { 'if-match': '"earlierFormula01"' })).status).toBe(
        200,
      )
      expect((await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 4 }, { 'if-match': '"earlierFormula01"' })).status).toBe(
        412,
      )
    })

    it('answers bad input, unknown collections, viewers and other workspaces in the contract format', async () => {
      const bad = await owner.request('POST', '/api/records/deals', { title: 'x', stage: 'someday' })
      expect(bad.status).toBe(400)
      expect(bad.body.error).toMatchObject({ code: 'invalid', issues: [{ path: 'stage' }] })
      expect((await owner.request('GET', '/api/records/spaceships')).status).toBe(404)
      const created = await owner.request('POST', '/api/records/deals', { title: 'Mine' })
      expect((await viewer.request('PATCH', `/api/records/deals/${created.body.id}`, { amount: 3 })).status).toBe(403)
      expect((await viewer.request('GET', `/api/records/deals/${created.body.id}`)).status).toBe(200)
      expect((await stranger.request('GET', `/api/records/deals/${created.body.id}`)).status).toBe(404)
      expect((await stranger.request('PATCH', `/api/records/deals/${created.body.id}`, { amount: 3 })).status).toBe(404)
    })

    it('records who changed which field in the history', async () => {
      const created = await owner.request('POST', '/api/records/deals', { title: 'History' })
      await owner.request('PATCH', `/api/records/deals/${created.body.id}`, { stage: 'won' })
      const history = await owner.request('GET', `/api/records/deals/${created.body.id}/history`)
      expect(history.body.items[0]).toMatchObject({ userId: owner.userId, fields: ['stage'] })
      expect(history.body.items.at(-1).fields).toEqual(expect.arrayContaining(['title']))
    })

    it('typing notes is one history entry per run, so earlier changes and the creation stay on the history page', async () => {
      const created = await owner.request('POST', '/api/records/deals', { title: 'Long notes' })
      const id = created.body.id as string
      await owner.request('PATCH', `/api/records/deals/${id}`, { stage: 'qualified' })
      const typist = provider(t.wsUrl, `acme/deals/${id}`, member.token)
      await synced(typist)
      // 600 keystrokes, each its own update: more than a history page (500) if each were an entry.
      const text = notesOf(typist.doc)
      for (let i = 0; i < 590; i++) text.insert(text.length, 'x')
      await until(
        async () => (await owner.request('GET', `/api/records/deals/${id}`)).body.notes?.length === 590,
        'the first keystrokes stored',
      )
      const beforeLastKeystrokes = Date.now()
      for (let i = 0; i < 10; i++) text.insert(text.length, 'x')
      await until(async () => (await owner.request('GET', `/api/records/deals/${id}`)).body.notes?.length === 600, 'every keystroke stored')
      await owner.request('PATCH', `/api/records/deals/${id}`, { stage: 'won' })
      const { items } = (await owner.request('GET', `/api/records/deals/${id}/history`)).body as {
        items: { at: string; userId: string; fields: string[] }[]
      }
      expect(items.map((item) => [item.userId, item.fields])).toEqual([
        [owner.userId, ['stage']],
        [member.userId, ['notes']],
        [owner.userId, ['stage']],
        [owner.userId, expect.arrayContaining(['title'])],
      ])
      // The run's entry carries the time of its last keystroke.
      expect(Date.parse(items[1]!.at)).toBeGreaterThanOrEqual(beforeLastKeystrokes)
      typist.destroy()
    })

    it("the server's own changes are not merged into runs: each booking decision is its own entry", async () => {
      const start = Date.parse('2032-05-03T09:00:00Z')
      const created = await owner.request('POST', '/api/records/events', {
        title: 'Kick-off',
        start: new Date(start).toISOString(),
        end: new Date(start + 3_600_000).toISOString(),
        attendees: [owner.userId],
      })
      const id = created.body.id as string
      await until(
        async () => (await owner.request('GET', `/api/records/events/${id}`)).body.reservation?.status === 'confirmed',
        'the booking is confirmed',
      )
      const { items } = (await owner.request('GET', `/api/records/events/${id}/history`)).body as {
        items: { userId: string | null; fields: string[] }[]
      }
      // pending, then confirmed: two decisions by the server, within a second.
      expect(items.filter((item) => item.userId === null).map((item) => item.fields)).toEqual([
        ['authority.reservation'],
        ['authority.reservation'],
      ])
    })

    it('an edit right after the creation is its own entry: the creation keeps its time', async () => {
      const created = await owner.request('POST', '/api/records/customers', { name: 'Initech' })
      await owner.request('PATCH', `/api/records/customers/${created.body.id}`, { name: 'Initech Ltd' })
      const { items } = (await owner.request('GET', `/api/records/customers/${created.body.id}/history`)).body
      expect(items.map((item: { fields: string[] }) => item.fields)).toEqual([['name'], ['name']])
    })
  })

  describe('index documents', () => {
    it('list summaries follow every change live, and clients cannot write them', async () => {
      const index = provider(t.wsUrl, 'acme/index/deals', owner.token)
      await synced(index)
      const created = await owner.request('POST', '/api/records/deals', { title: 'Live in the list' })
      const entries = indexEntriesOf(index.doc)
      await until(() => entries.get(created.body.id)?.title === 'Live in the list', 'new record appears in the index')

      const editor = provider(t.wsUrl, `acme/deals/${created.body.id}`, owner.token)
      await synced(editor)
      fieldsOf(editor.doc).set('stage', 'negotiation')
      await until(() => entries.get(created.body.id)?.fields.stage === 'negotiation', 'a live edit reaches the index')

      entries.set('forged', { id: 'forged', title: 'forged', fields: {}, authority: {}, updatedAt: '', updatedBy: null })
      await until(() => !entries.has('forged'), 'a client write to the index is undone')

      await owner.request('DELETE', `/api/records/deals/${created.body.id}`)
      await until(() => !entries.has(created.body.id), 'a deleted record leaves the index')
      index.destroy()
      editor.destroy()
    })

    it('typing in the notes refreshes the entry once per interval, and the refresh outlives a shutdown', async () => {
      const member = await login(t.url, 'member@acme.test', 'correct horse')
      const index = provider(t.wsUrl, 'acme/index/deals', owner.token)
      await synced(index)
      const created = await owner.request('POST', '/api/records/deals', { title: 'Typed into' })
      const id = created.body.id as string
      const entries = indexEntriesOf(index.doc)
      await until(() => entries.get(id)?.updatedBy === owner.userId, 'the new record is in the index')
      let changes = 0
      entries.observe((event) => {
        if (event.keysChanged.has(id)) changes++
      })

      const typist = provider(t.wsUrl, `acme/deals/${id}`, member.token)
      await synced(typist)
      for (const ch of 'hello there') {
        notesOf(typist.doc).insert(notesOf(typist.doc).length, ch)
        await new Promise((r) => setTimeout(r, 20))
      }
      await until(
        async () => (await owner.request('GET', `/api/records/deals/${id}`)).body.notes === 'hello there',
        'the notes are saved at once',
      )
      await until(() => entries.get(id)?.updatedBy === member.userId, 'the list shows the new editor', INDEX_CONTENT_REFRESH_MS * 3)
      await new Promise((r) => setTimeout(r, 300))
      expect(changes).toBe(1)

      // A field change is not held back.
      fieldsOf(typist.doc).set('stage', 'won')
      await until(() => entries.get(id)?.fields.stage === 'won', 'a field change reaches the list')

      // A refresh still waiting when the server stops is written before it stops.
      const database = await backend.another()
      const {
        t: last,
        users,
        api: { owner: a, member: b },
      } = await startSeeded(['owner', 'member'], database.options)
      const other = await a.request('POST', '/api/records/deals', { title: 'Shut down while typing' })
      const writer = provider(last.wsUrl, `acme/deals/${other.body.id}`, b.token)
      await synced(writer)
      notesOf(writer.doc).insert(0, 'last words')
      await until(async () => (await a.request('GET', `/api/records/deals/${other.body.id}`)).body.notes === 'last words', 'saved')
      writer.destroy()
      const {
        t: again,
        api: { owner: c },
      } = await restartSeeded(last, users, ['owner'])
      const reader = provider(again.wsUrl, 'acme/index/deals', c.token)
      await synced(reader)
      expect(indexEntriesOf(reader.doc).get(other.body.id)?.updatedBy).toBe(b.userId)
      reader.destroy()
      await again.close()
      await database.drop()
      index.destroy()
      typist.destroy()
    })

    it('typing in several records refreshes their entries in one index update', async () => {
      const member = await login(t.url, 'member@acme.test', 'correct horse')
      const ids = await Promise.all(
        ['First typed', 'Second typed'].map(
          async (title) => (await owner.request('POST', '/api/records/proposals', { title })).body.id as string,
        ),
      )
      const index = provider(t.wsUrl, 'acme/index/proposals', owner.token)
      await synced(index)
      const entries = indexEntriesOf(index.doc)
      await until(() => ids.every((id) => entries.get(id)?.updatedBy === owner.userId), 'both records are in the index')
      const logged = async () =>
        Number(
          (await query<{ n: number }>(t.server, 'SELECT COUNT(*) AS n FROM doc_updates WHERE doc = ?', ['acme/index/proposals']))[0]!.n,
        )
      const before = await logged()
      const typists = ids.map((id) => provider(t.wsUrl, `acme/proposals/${id}`, member.token))
      await Promise.all(typists.map(synced))
      for (const typist of typists) notesOf(typist.doc).insert(0, 'typed')
      await until(
        () => ids.every((id) => entries.get(id)?.updatedBy === member.userId),
        'the list shows the new editor of both',
        INDEX_CONTENT_REFRESH_MS * 3,
      )
      expect((await logged()) - before).toBe(1)
      for (const typist of typists) typist.destroy()
      index.destroy()
    })

    it('an open record keeps its collection index loaded and parsed, so refreshes never parse it again', async () => {
      const member = await login(t.url, 'member@acme.test', 'correct horse')
      const { body } = await owner.request('POST', '/api/records/leads', { name: 'Kept warm' })
      const typist = provider(t.wsUrl, `acme/leads/${body.id}`, member.token)
      await synced(typist)
      const indexName = 'acme/index/leads'
      // Parsed when the record was opened, before anyone typed.
      expect(t.server.registry.get(indexName)?.hydrated).toBe(true)
      let typing = true
      const typed = (async () => {
        while (typing) {
          notesOf(typist.doc).insert(0, '.')
          await new Promise((r) => setTimeout(r, 50))
        }
      })()
      const room = t.server.registry.get(indexName)
      // The test server unloads an unused document after 100 ms; two refreshes are 2 s apart.
      const until2 = Date.now() + INDEX_CONTENT_REFRESH_MS * 1.5
      while (Date.now() < until2) {
        expect(t.server.registry.get(indexName)).toBe(room)
        await new Promise((r) => setTimeout(r, 25))
      }
      typing = false
      await typed
      typist.destroy()
      await until(
        () => t.server.registry.get(indexName) === undefined,
        'the index unloads with the last record',
        INDEX_CONTENT_REFRESH_MS * 3,
      )
    })

    it("keeps each user's inbox to that user", async () => {
      expect(await closeCodeOf(`${t.wsUrl}/sync/acme/inbox/${viewer.userId}?token=${owner.token}`)).toBe(4403)
    })
  })
})
