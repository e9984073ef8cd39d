/**
 * A NUL character (U+0000) typed into a record, on both backends: PostgreSQL's text cannot
 * hold one, and a commit carries many documents, so one NUL must not fail anyone's writes.
 * Short fields refuse it (one clear error, the same on both); the notes keep it in the
 * document, and what is derived from them (the `records` row: REST, lists, search, exports)
 * shows U+FFFD instead, the same on both. Real server, stock y-websocket providers.
 */
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { notesOf } from '../shared/docLayout.js'
import type { RejectedNotice } from '../shared/protocol.js'
import { textOf } from '../shared/textFields.js'
import { type BackendUnderTest, describeBackends, query, restart } from './helpers/backends.js'
import { type Api, type TestServer, apiOf, provider, startSeeded, synced, until } from './helpers/server.js'
import { captureNotices, closeCodes } from './helpers/trust.js'

const NUL_ISSUE = { path: 'title', message: 'must not contain NUL characters (U+0000)' }

describeBackends('NUL characters in records', (backend) => {
  let t: TestServer
  let member: Api
  const open: WebsocketProvider[] = []

  beforeAll(async () => {
    // On SQLite, writes are committed on the writer thread: a test can hold the write lock while the event loop runs.
    const seeded = await startSeeded(['member'], { ...backend.options(), writer: 'thread' })
    t = seeded.t
    member = seeded.api.member
  })
  afterEach(() => {
    for (const p of open.splice(0)) p.destroy()
  })
  afterAll(() => t.close())

  const create = async (title: string) => {
    const res = await member.request('POST', '/api/records/deals', { title })
    expect(res.status).toBe(201)
    return res.body.id as string
  }
  const connect = (id: string, server = t) => {
    const p = provider(server.wsUrl, `acme/deals/${id}`, member.token, { params: { notices: '1' } })
    open.push(p)
    return p
  }
  const record = async (id: string, api = member) => (await api.request('GET', `/api/records/deals/${id}`)).body

  it('[NUL1] "a\\u0000b" typed into the notes commits with another record in one commit: neither fails, REST shows U+FFFD on both backends, the document keeps the NUL', async () => {
    const [a, b, blocker] = [await create('With a NUL'), await create('Beside it'), await create('Blocker')]
    const [pa, pb, pblocker] = [connect(a), connect(b), connect(blocker)]
    const closes = [pa, pb, pblocker].map(closeCodes)
    await Promise.all([pa, pb, pblocker].map(synced))

    // The blocker's commit waits on a lock held here; meanwhile both edits queue for the next commit, together.
    const release = await holdWrites(t, backend, blocker)
    notesOf(pblocker.doc).insert(0, 'x')
    const room = (id: string) => t.server.registry.get(`acme/deals/${id}`)!
    await until(() => room(blocker).pending.length === 0 && room(blocker).unpersisted > 0, "the blocker's commit is in flight")
    notesOf(pa.doc).insert(0, 'a\u0000b')
    notesOf(pb.doc).insert(0, 'fine')
    await until(() => room(a).pending.length > 0 && room(b).pending.length > 0, 'both edits wait for the next commit')
    await release()
    await t.server.registry.flushed()

    if (backend.kind === 'postgres') {
      // Proof the two went in one transaction: their rows carry the same transaction id.
      const rows = await query<{ xmin: string }>(
        t.server,
        'SELECT DISTINCT xmin::text AS xmin FROM doc_updates d WHERE doc IN (?, ?) AND seq = (SELECT max(seq) FROM doc_updates WHERE doc = d.doc)',
        [`acme/deals/${a}`, `acme/deals/${b}`],
      )
      expect(rows).toHaveLength(1)
    }
    expect(closes).toEqual([[], [], []])
    expect(await record(a)).toMatchObject({ title: 'With a NUL', notes: 'a\uFFFDb' })
    expect(await record(b)).toMatchObject({ notes: 'fine' })
    const found = await member.request('GET', `/api/records/deals?q=${encodeURIComponent('a\uFFFDb')}`)
    expect(found.body.items.map((r: { id: string }) => r.id)).toEqual([a])
    const history = (await member.request('GET', `/api/records/deals/${a}/history`)).body
    expect(history.items[0]).toMatchObject({ userId: member.userId, fields: ['notes'] })

    // The document itself (Yjs, stored as bytes) holds the NUL exactly, after a restart too.
    for (const p of open.splice(0)) p.destroy()
    t = await restart(t, { options: { writer: 'thread' } })
    member = apiOf(t.url, member.token, member.userId)
    const reloaded = connect(a)
    await synced(reloaded)
    expect(notesOf(reloaded.doc).toString()).toBe('a\u0000b')
    expect(await record(a)).toMatchObject({ notes: 'a\uFFFDb' })
  })

  it('[NUL2] a REST create or PATCH with a NUL in a field is refused with one clear issue, the same on both backends; notes with a NUL are accepted and read back with U+FFFD', async () => {
    const created = await member.request('POST', '/api/records/deals', { title: 'x\u0000y' })
    expect(created.status).toBe(400)
    expect(created.body.error).toMatchObject({ code: 'invalid', issues: [NUL_ISSUE] })

    const id = await create('Clean')
    const before = await record(id)
    const patched = await member.request('PATCH', `/api/records/deals/${id}`, { title: 'x\u0000y' })
    expect(patched.status).toBe(400)
    expect(patched.body.error).toMatchObject({ code: 'invalid', issues: [NUL_ISSUE] })
    const customer = await member.request('POST', '/api/records/customers', { name: 'Ann', tags: ['ok', 'n\u0000'] })
    expect(customer.status).toBe(400)
    expect(customer.body.error.issues).toEqual([{ path: 'tags', message: NUL_ISSUE.message }])
    expect(await record(id)).toEqual(before)

    const notes = await member.request('PATCH', `/api/records/deals/${id}`, { notes: 'one\u0000two' })
    expect(notes.status).toBe(200)
    expect(notes.body).toMatchObject({ title: 'Clean', notes: 'one\uFFFDtwo' })
    expect(await record(id)).toMatchObject({ notes: 'one\uFFFDtwo' })
  })

  it('[NUL3] a NUL typed into a title over the socket is refused and taken back; the sender is told, nothing is closed, and the next keystroke commits', async () => {
    const id = await create('Title')
    const p = connect(id)
    const notices = captureNotices(p)
    const closes = closeCodes(p)
    await synced(p)

    textOf(p.doc, 'title').insert(5, '\u0000')
    await until(
      () => notices.some((n) => n.type === 'rejected' && (n as RejectedNotice).issues.some((i) => i.path === 'title')),
      'the sender told',
    )
    await until(() => textOf(p.doc, 'title').toString() === 'Title', 'the NUL taken back')
    textOf(p.doc, 'title').insert(5, '!')
    await until(async () => (await record(id)).title === 'Title!', 'the next keystroke committed')
    expect(closes).toEqual([])
  })

  it('[NUL4] a NUL in a URL (a record id, a list cursor, a search) or in a sign-in e-mail is a 400 on both backends, never a 500', async () => {
    const id = await create('Reachable')
    const nul = encodeURIComponent('\u0000')
    for (const path of [
      `/api/records/deals/x${nul}y`,
      `/api/records/deals?cursor=a${nul}`,
      `/api/records/deals?q=a${nul}`,
      `/api/records/deals/${id}/history?x=${nul}`,
    ]) {
      const res = await member.request('GET', path)
      expect([path, res.status, res.body.error?.code]).toEqual([path, 400, 'invalid'])
    }
    const login = await fetch(`${t.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'member\u0000@acme.test', password: 'x' }),
    })
    expect(login.status).toBe(400)
    expect((await member.request('GET', `/api/records/deals/${id}`)).status).toBe(200)
  })
})

/**
 * Holds the database's write lock where the server's next commit needs it: on PostgreSQL the
 * `docs` row of `docName`'s record (its commit waits at its first statement), on SQLite the
 * file's write lock (the writer thread waits in its busy handler). Resolves with the release.
 */
async function holdWrites(t: TestServer, backend: BackendUnderTest, id: string): Promise<() => Promise<void>> {
  // Written now, so that nothing but the held commit writes while the lock is held.
  await t.server.auth.writeTouches()
  if (backend.kind === 'postgres') {
    const client = new pg.Client({ connectionString: t.databaseUrl! })
    await client.connect()
    await client.query('BEGIN')
    await client.query('SELECT FROM docs WHERE doc = $1 FOR UPDATE', [`acme/deals/${id}`])
    return async () => {
      await client.query('COMMIT')
      await client.end()
    }
  }
  const db = new Database(t.dbFile)
  db.exec('BEGIN IMMEDIATE')
  return async () => {
    db.exec('COMMIT')
    db.close()
  }
}
