/**
 * [W4] What any client has received from the server is on disk: the server is killed
 * with SIGKILL in the middle of a stream of edits and restarted on the same database.
 * [W7] Edits made offline while the server is down merge on reconnect.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fieldsOf, notesOf, readFields } from '../shared/docLayout.js'
import { describeBackends } from './helpers/backends.js'
import { type ChildServer, databaseArgs, killHard, runCli, spawnServer } from './helpers/child.js'
import { login, provider, synced, tempDir, until } from './helpers/server.js'
import { queryStored } from './helpers/stored.js'

describeBackends('durability', (backend) => {
  const dir = tempDir()
  /** A SQLite file, or the suite's PostgreSQL database (read inside tests). */
  let db: string
  const children: ChildServer[] = []

  beforeAll(() => {
    db = backend.options().databaseUrl ?? join(dir, 'accord.db')
  })
  afterAll(async () => {
    for (const c of children) await killHard(c)
    rmSync(dir, { recursive: true, force: true })
  })

  function setUpWorkspace(): void {
    expect(runCli(['workspace', 'add', 'dur', ...databaseArgs(db)]).status).toBe(0)
    const user = ['--workspace', 'dur', '--email', 'w@dur.test', '--password', 'password1', '--role', 'member']
    expect(runCli(['user', 'add', ...user, ...databaseArgs(db)]).status).toBe(0)
  }

  it('[W4] every update a client received survives kill -9 of the server', async () => {
    setUpWorkspace()
    const first = await spawnServer(db)
    children.push(first)
    const api = await login(first.url, 'w@dur.test', 'password1')
    const created = await api.request('POST', '/api/records/deals', { title: 'Durable' })
    const docName = `dur/deals/${created.body.id}`

    const writers = Array.from({ length: 4 }, () => provider(first.wsUrl, docName, api.token))
    const witness = provider(first.wsUrl, docName, api.token)
    await Promise.all([...writers, witness].map(synced))
    let received = ''
    witness.doc.on('update', (_u: Uint8Array, origin: unknown) => {
      if (origin === witness) received = notesOf(witness.doc).toString()
    })
    let n = 0
    const timer = setInterval(() => {
      writers.forEach((w, i) => notesOf(w.doc).insert(notesOf(w.doc).length, `<${i}:${n}>`))
      n++
    }, 2)
    await until(() => received.split('<').length > 200, 'the witness received a stream of edits')
    await killHard(first)
    clearInterval(timer)
    const seen = received.match(/<\d+:\d+>/g) ?? []
    ;[...writers, witness].forEach((p) => p.destroy())

    const second = await spawnServer(db)
    children.push(second)
    const api2 = await login(second.url, 'w@dur.test', 'password1')
    const reader = provider(second.wsUrl, docName, api2.token)
    await synced(reader)
    const after = notesOf(reader.doc).toString()
    const missing = seen.filter((token) => !after.includes(token))
    expect(seen.length).toBeGreaterThanOrEqual(200)
    expect(missing).toEqual([])
    reader.destroy()
    await killHard(second)
    // Kept in the database this suite named (on PostgreSQL, not a SQLite file beside it).
    const stored = await queryStored<{ n: number }>(
      backend.kind === 'postgres' ? { databaseUrl: db } : { db },
      'SELECT (SELECT COUNT(*) FROM doc_updates WHERE doc = ?) + (SELECT COUNT(*) FROM doc_snapshots WHERE doc = ?) AS n',
      [docName, docName],
    )
    expect(Number(stored[0]!.n)).toBeGreaterThan(0)
  })

  it('[W7] edits made while the server was down merge on reconnect', async () => {
    const server = await spawnServer(db)
    children.push(server)
    const port = new URL(server.url).port
    const api = await login(server.url, 'w@dur.test', 'password1')
    const created = await api.request('POST', '/api/records/deals', { title: 'Offline', amount: 1 })
    const docName = `dur/deals/${created.body.id}`
    const offline = provider(server.wsUrl, docName, api.token)
    await synced(offline)
    await killHard(server)
    await until(() => !offline.wsconnected, 'the provider notices the server is gone')

    offline.doc.transact(() => {
      fieldsOf(offline.doc).set('amount', 4200)
      notesOf(offline.doc).insert(0, 'written offline')
    })
    const restarted = await spawnServer(db, Number(port))
    children.push(restarted)
    await until(() => offline.synced && offline.wsconnected, 'the provider reconnects')
    const api2 = await login(restarted.url, 'w@dur.test', 'password1')
    await until(
      async () => (await api2.request('GET', `/api/records/deals/${created.body.id}`)).body.amount === 4200,
      'offline edit persisted',
    )
    const fresh = provider(restarted.wsUrl, docName, api2.token, { doc: new Y.Doc() })
    await synced(fresh)
    await until(() => notesOf(fresh.doc).toString() === 'written offline', 'a fresh client sees the offline edit')
    expect(readFields(fresh.doc, 'deals').title).toBe('Offline')
    offline.destroy()
    fresh.destroy()
  })
})
