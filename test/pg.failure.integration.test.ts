/**
 * Accord on PostgreSQL when PostgreSQL is not there: unreachable at start (one line, a
 * non-zero exit), and lost under a running server (nothing acknowledged or broadcast that
 * is not committed, /readyz not ready, every edit stored once it is back, without a
 * restart of Accord). The outage test stops and starts a PostgreSQL server of its own
 * (test/helpers/privatePg.ts), never the machine's shared one.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { notesOf } from '../shared/docLayout.js'
import { newRecordId } from '../shared/docNames.js'
import { AccordServer } from '../server/AccordServer.js'
import { openPool } from '../server/pg/openPool.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { runCli } from './helpers/child.js'
import { type PrivatePg, skipPrivatePg, startPrivatePg } from './helpers/privatePg.js'
import { loginAs, provider, seedWorkspace, synced, tempDir, until } from './helpers/server.js'

describe('PostgreSQL unreachable at start', () => {
  it('[PGF1] `accord serve` on a URL nothing listens on: one line on stderr naming it (no password), no stack trace, a non-zero exit', () => {
    const result = runCli(['serve', '--port', '0'], { ACCORD_DATABASE_URL: 'postgres://accord:secret@127.0.0.1:1/accord' })
    expect(result.status).not.toBe(0)
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^accord: cannot connect to PostgreSQL at postgres:\/\/accord@127\.0\.0\.1:1\/accord \(.*ECONNREFUSED/),
    ])
    expect(result.stderr).not.toContain('secret')
    expect(result.stdout).not.toContain('listening')
  })
})

describe.skipIf(skipPrivatePg)('PostgreSQL lost under a running server', () => {
  let pg: PrivatePg | undefined
  let server: AccordServer | undefined
  let url: string
  beforeAll(async () => {
    pg = await startPrivatePg()
    server = await AccordServer.open({
      databaseUrl: pg.url,
      port: 0,
      clientDir: join(tempDir(), 'no-client'),
      registry: { unloadGraceMs: 100 },
    })
    url = await server.start()
  }, 120_000)
  afterAll(async () => {
    // Running again (a failed test may have left it stopped), so the server closes as it would.
    pg?.start()
    await server?.close()
    pg?.destroy()
  }, 60_000)

  const ready = async () => (await fetch(`${url}/readyz`)).status

  it('[PGF2] stopped mid-typing and started again: nothing typed meanwhile is broadcast, /readyz 503 then 200, every edit ends up in the database', async () => {
    const s = server!
    const wsUrl = url.replace(/^http/, 'ws')
    const { member, member2 } = await loginAs(url, await seedWorkspace(s), ['member', 'member2'])
    // A record the clients make by typing into it (record reads on PostgreSQL are not this test's subject).
    const docName = `acme/deals/${newRecordId()}`
    const clients = [provider(wsUrl, docName, member.token), provider(wsUrl, docName, member2.token)]
    await Promise.all(clients.map(synced))

    /** What each client received from the server, as it arrived (origin: the provider). */
    const received = clients.map(() => [] as { at: number; text: string }[])
    clients.forEach((p, i) =>
      p.doc.on('update', (_update: Uint8Array, origin: unknown) => {
        if (origin === p) received[i]!.push({ at: Date.now(), text: notesOf(p.doc).toString() })
      }),
    )
    const closes = clients.map(() => [] as number[])
    clients.forEach((p, i) => p.on('connection-close', (event: CloseEvent | null) => event && closes[i]!.push(event.code)))
    const typed: string[][] = [[], []]
    let n = 0
    const type = () => {
      clients.forEach((p, i) => {
        const marker = `<${i}:${n}>`
        notesOf(p.doc).insert(notesOf(p.doc).length, marker)
        typed[i]!.push(marker)
      })
      n++
    }
    const typing = setInterval(type, 10)
    try {
      await until(() => received[1]!.some((r) => r.text.includes('<0:20>')), 'the other client sees the typing')

      pg!.stop('immediate')
      const downAt = Date.now()
      /** Markers typed from now on cannot be committed until PostgreSQL is back. */
      const firstDown = n
      await until(async () => (await ready()) === 503, '/readyz reports not ready')
      // A document that cannot be loaded is a clean refusal, to be tried again.
      const refused = await member.request('POST', '/api/records/deals', { title: 'During the outage' })
      expect(refused).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } })
      // Typing goes on while the clients retry, refused (1011) until PostgreSQL answers again.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(await ready()).toBe(503)
      const upAt = Date.now()
      const typedDown = typed.map((markers) => markers.slice(firstDown, n))
      pg!.start()

      expect(typedDown[0]!.length).toBeGreaterThan(50)
      // Nothing typed while PostgreSQL was down reached the other client before it was back.
      clients.forEach((_, i) => {
        const other = 1 - i
        const outage = received[i]!.filter((r) => r.at >= downAt && r.at < upAt)
        for (const { text } of outage) for (const marker of typedDown[other]!) expect(text).not.toContain(marker)
      })
      expect(closes.map((codes) => codes.includes(1011))).toEqual([true, true])

      await until(async () => (await ready()) === 200, '/readyz ready again', 30_000)
      const afterUp = n
      await until(() => received[1]!.some((r) => r.text.includes(`<0:${afterUp + 10}>`)), 'typing reaches the other client again', 30_000)
    } finally {
      clearInterval(typing)
    }

    const all = typed.flat()
    const missing = (text: string) => all.filter((marker) => !text.includes(marker))
    await until(() => clients.every((p) => missing(notesOf(p.doc).toString()).length === 0), 'both clients hold every edit', 30_000)
    await s.registry.flushed()

    // What PostgreSQL holds, read by a store on a pool of its own: every edit of both clients.
    const pool = await openPool(pg!.url, { max: 1 })
    try {
      const stored = new Y.Doc()
      for (const update of (await new PgDocStore(pool).load(docName)).updates) Y.applyUpdate(stored, update)
      expect(missing(notesOf(stored).toString())).toEqual([])
      expect(notesOf(stored).toString()).toBe(notesOf(clients[0]!.doc).toString())
    } finally {
      await pool.end()
    }
    clients.forEach((p: WebsocketProvider) => p.destroy())
  }, 120_000)
})
