/**
 * [W5] If the append fails nothing is broadcast: the document is dropped from memory and
 * its sockets closed with 1011; clients keep their edits and resend them on reconnect.
 * A server-made change dropped that way (a booking decision) is written again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { authorityOf, notesOf } from '../shared/docLayout.js'
import { type Api, type SeededUsers, type TestServer, provider, startSeeded, synced, until } from './helpers/server.js'

let t: TestServer
let api: Api
let users: SeededUsers

beforeAll(async () => {
  ;({
    t,
    users,
    api: { member: api },
  } = await startSeeded(['member']))
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
    await until(
      async () => (await api.request('GET', `/api/records/deals/${body.id}`)).body.notes === 'must not be lost',
      'the resent edit is persisted',
    )
    await until(() => notesOf(watcher.doc).toString() === 'must not be lost', 'and reaches the other client')
    const fresh = provider(t.wsUrl, docName, api.token, { doc: new Y.Doc() })
    await synced(fresh)
    expect(notesOf(fresh.doc).toString()).toBe('must not be lost')
    ;[writer, watcher, fresh].forEach((p) => p.destroy())
  })

  it('a booking decision whose write failed is mirrored into the event again once the disk takes writes', async () => {
    // The disk refuses the server's own writes to events (the authority's), not the users'.
    t.server.db.exec(
      `CREATE TRIGGER refuse_decisions BEFORE INSERT ON doc_updates WHEN NEW.author IS NULL AND NEW.doc LIKE 'acme/events/%' BEGIN SELECT RAISE(ABORT, 'disk refuses'); END`,
    )
    const start = Date.parse('2031-03-03T09:00:00Z')
    const created = await api.request('POST', '/api/records/events', {
      title: 'Pipeline review',
      start: new Date(start).toISOString(),
      end: new Date(start + 3_600_000).toISOString(),
      attendees: [users.member2.id],
      room: '',
    })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    await until(async () => (await t.server.ledger.entry('acme', id))?.reservation?.status === 'confirmed', 'the ledger decided')
    await t.server.reservations.idle()
    expect((await api.request('GET', `/api/records/events/${id}`)).body.reservation).toBeUndefined()

    t.server.db.exec('DROP TRIGGER refuse_decisions')
    await until(
      async () => (await api.request('GET', `/api/records/events/${id}`)).body.reservation?.status === 'confirmed',
      'the decision reaches the event',
    )
    const watcher = provider(t.wsUrl, `acme/events/${id}`, api.token)
    await synced(watcher)
    expect(authorityOf(watcher.doc).get('reservation')).toMatchObject({ status: 'confirmed' })
    watcher.destroy()
  })
})
