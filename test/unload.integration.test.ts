/**
 * [L1] A document with thousands of logged updates is compacted and reloads to the same state.
 * [L2] Documents are unloaded after their last client leaves, and their memory is freed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fieldsOf, notesOf } from '../shared/docLayout.js'
import { describeBackends, query } from './helpers/backends.js'
import { type Api, type TestServer, provider, startSeeded, synced, until } from './helpers/server.js'

describeBackends('unload', (backend) => {
  let t: TestServer
  let api: Api

  beforeAll(async () => {
    ;({
      t,
      api: { member: api },
    } = await startSeeded(['member'], backend.options()))
  })
  afterAll(() => t.close())

  const logCount = async (doc: string) =>
    Number((await query<{ n: number }>(t.server, 'SELECT COUNT(*) AS n FROM doc_updates WHERE doc = ?', [doc]))[0]!.n)
  const hasSnapshot = async (doc: string) => (await query(t.server, 'SELECT 1 FROM doc_snapshots WHERE doc = ?', [doc])).length === 1

  describe('unload and reload', () => {
    it('[L1] 5,000 logged updates reload to the same state after compaction', async () => {
      const { body } = await api.request('POST', '/api/records/deals', { title: 'Busy deal' })
      const docName = `acme/deals/${body.id}`
      const editor = provider(t.wsUrl, docName, api.token)
      await synced(editor)
      for (let i = 0; i < 5000; i++) {
        if (i % 10 === 0) fieldsOf(editor.doc).set('amount', i)
        else notesOf(editor.doc).insert(notesOf(editor.doc).length, `${i % 10}`)
        if (i % 500 === 499) await new Promise((r) => setImmediate(r))
      }
      const expected = { fields: fieldsOf(editor.doc).toJSON(), notes: notesOf(editor.doc).toString() }
      await until(
        async () => (await api.request('GET', `/api/records/deals/${body.id}`)).body.notes === expected.notes,
        'every update persisted',
      )
      editor.destroy()
      await until(() => t.server.registry.get(docName) === undefined, 'the document is unloaded')
      expect(await hasSnapshot(docName)).toBe(true)
      expect(await logCount(docName)).toBeLessThan(500)

      const reader = provider(t.wsUrl, docName, api.token, { doc: new Y.Doc() })
      await synced(reader)
      expect({ fields: fieldsOf(reader.doc).toJSON(), notes: notesOf(reader.doc).toString() }).toEqual(expected)
      reader.destroy()
    })

    it('[L2] memory is freed once every client has left', async () => {
      const gc = (globalThis as { gc?: () => void }).gc
      expect(gc, 'tests run with --expose-gc').toBeTypeOf('function')
      const names: string[] = []
      for (let i = 0; i < 20; i++) names.push(`acme/customers/mem${i}`)
      const refs: WeakRef<Y.Doc>[] = []
      const providers = names.map((name) => provider(t.wsUrl, name, api.token))
      await Promise.all(providers.map(synced))
      providers.forEach((p, i) => fieldsOf(p.doc).set('name', `Customer ${i} ${'x'.repeat(1000)}`))
      await until(() => names.every((n) => (t.server.registry.get(n)?.doc.getText('text.name').length ?? 0) > 0), 'edits arrived')
      for (const name of names) refs.push(new WeakRef(t.server.registry.get(name)!.doc))
      providers.forEach((p) => p.destroy())
      await until(() => names.every((n) => t.server.registry.get(n) === undefined), 'all documents unloaded')
      await until(() => {
        gc!()
        return refs.every((ref) => ref.deref() === undefined)
      }, 'unloaded documents are garbage collected')
    })
  })
})
