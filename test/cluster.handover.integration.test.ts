/**
 * Graceful handover (docs/cluster.md, "Handover"): a member closing (SIGTERM) commits what is
 * pending, releases each document after its last commit and tells its sockets to reconnect
 * (1001), so another member takes its documents over without waiting for its lease. Real
 * servers as members in this process, one fresh PostgreSQL database, the shared Redis, stock
 * y-websocket providers; a client whose member went away reconnects to another one, as behind
 * a load balancer.
 */
import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { notesOf } from '../shared/docLayout.js'
import { clusterServers } from './helpers/clusterServers.js'
import { skipPg } from './helpers/pg.js'
import { skipRedis } from './helpers/redis.js'
import { type TestServer, login, provider, synced, until } from './helpers/server.js'

/** A lease long enough that waiting for one would show in the gap measured. */
const LONG = { leaseMs: 5000, renewEveryMs: 250, safetyMarginMs: 1000 }

describe.skipIf(skipPg || skipRedis)('handover: a member closing hands its documents over at once', () => {
  const cluster = clusterServers()

  function connect(t: TestServer, docName: string, token: string): WebsocketProvider {
    return cluster.track(provider(t.wsUrl, docName, token))
  }

  const stored = (docName: string) => cluster.stored(docName)
  const count = (text: string, marker: string) => text.split(marker).length - 1

  it('[HO1] the owner closes while clients on it and on a relay type: another member owns the document well within a lease, every marker is in PostgreSQL once', async () => {
    const a = await cluster.member('a', LONG)
    const b = await cluster.member('b', LONG)
    const owner = await login(a.url, cluster.users.owner.email, cluster.users.owner.password)
    const res = await owner.request('POST', '/api/records/deals', { title: 'Deal', amount: 1, stage: 'lead' })
    expect(res.status).toBe(201)
    const docName = `acme/deals/${res.body.id as string}`
    const onA = connect(a, docName, owner.token)
    await synced(onA)
    const onB = connect(b, docName, owner.token)
    await synced(onB)
    expect(b.server.registry.get(docName)).toBeUndefined()
    // The client on a reconnects to b, as a load balancer would send it there.
    const closeCodes: number[] = []
    onA.on('connection-close', (event: CloseEvent | null) => {
      if (event) closeCodes.push(event.code)
      onA.serverUrl = `${b.wsUrl}/sync`
    })
    const markers: string[] = []
    let typing = true
    const type = async (p: WebsocketProvider, name: string) => {
      for (let i = 0; typing; i++) {
        const marker = `<${name}${i}>`
        markers.push(marker)
        notesOf(p.doc).insert(notesOf(p.doc).length, marker)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    const typed = Promise.all([type(onA, 'a'), type(onB, 'b')])
    await new Promise((resolve) => setTimeout(resolve, 300))
    const closing = Date.now()
    const closed = a.server.close()
    await until(() => b.server.registry.get(docName) !== undefined, 'b owns the document')
    const gap = Date.now() - closing
    await closed
    await new Promise((resolve) => setTimeout(resolve, 300))
    typing = false
    await typed
    console.log(`handover: b owned the document ${gap} ms after a began closing; close codes on a ${closeCodes.join(',')}`)
    expect(closeCodes[0]).toBe(1001)
    expect(gap).toBeLessThan(LONG.leaseMs / 2)
    await until(async () => {
      const text = notesOf(await stored(docName)).toString()
      return markers.every((m) => count(text, m) === 1)
    }, 'every marker committed once')
    await until(() => notesOf(onA.doc).toString() === notesOf(onB.doc).toString(), 'both clients converge')
  })
})
