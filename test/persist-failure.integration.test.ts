/**
 * [W5] If the append fails nothing is broadcast: the document is dropped from memory and
 * its sockets closed with 1011; clients keep their edits and resend them on reconnect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { notesOf } from '../shared/docLayout.js'
import { type Api, type TestServer, login, provider, seedWorkspace, startServer, synced, until } from './helpers/server.js'

let t: TestServer
let api: Api

beforeAll(async () => {
  t = await startServer()
  const users = await seedWorkspace(t.server)
  api = await login(t.url, users.member.email, users.member.password)
})
afterAll(() => t.close())

describe('a failing store', () => {
  it('[W5] drops the document, closes with 1011, and the edit lands after reconnect', async () => {
    const { body } = await api.request('POST', '/api/records/deals', { title: 'Fragile' })
    const docName = `acme/deals/${body.id}`
    const writer = provider(t.wsUrl, docName, api.token)
    const watcher = provider(t.wsUrl, docName, api.token)
    await Promise.all([synced(writer), synced(watcher)])
    const closes: number[] = []
    writer.on('connection-close', (event: CloseEvent | null) => event && closes.push(event.code))

    // The disk refuses the write (the writer thread commits on its own connection; the
    // schema, and so the trigger, is shared).
    t.server.db.exec(`CREATE TRIGGER refuse_updates BEFORE INSERT ON doc_updates BEGIN SELECT RAISE(ABORT, 'disk refuses'); END`)
    notesOf(writer.doc).insert(0, 'must not be lost')
    await until(() => closes.includes(1011), 'the writer is told the document failed')
    expect(notesOf(watcher.doc).toString()).toBe('')
    expect(t.server.registry.get(docName)?.doc.getText('notes').toString() ?? '').not.toContain('must not be lost')

    t.server.db.exec('DROP TRIGGER refuse_updates')
    await until(async () => (await api.request('GET', `/api/records/deals/${body.id}`)).body.notes === 'must not be lost', 'the resent edit is persisted')
    await until(() => notesOf(watcher.doc).toString() === 'must not be lost', 'and reaches the other client')
    const fresh = provider(t.wsUrl, docName, api.token, { doc: new Y.Doc() })
    await synced(fresh)
    expect(notesOf(fresh.doc).toString()).toBe('must not be lost')
    ;[writer, watcher, fresh].forEach((p) => p.destroy())
  })
})
