/**
 * Accord servers as cluster members in the test process (docs/cluster.md): one fresh
 * PostgreSQL database and a Redis prefix per test file, a workspace seeded by a first member,
 * and the members and providers a test opens closed after it.
 */
import { afterAll, afterEach, beforeAll } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import type { ClusterOptions } from '../../server/cluster/ClusterMember.js'
import { type Pool, openPool } from '../../server/pg/openPool.js'
import { PgDocStore } from '../../server/store/PgDocStore.js'
import { freshDatabase } from './pg.js'
import { REDIS_URL, uniquePrefix } from './redis.js'
import { type SeededUsers, type TestServer, seedWorkspace, startServer } from './server.js'

/** Short leases, so that a takeover takes a fraction of a second. */
export const SHORT = { leaseMs: 600, renewEveryMs: 100, safetyMarginMs: 200 }

export type Lease = Pick<ClusterOptions, 'leaseMs' | 'renewEveryMs' | 'safetyMarginMs'>

export interface ClusterServers {
  readonly databaseUrl: string
  /** Reads what the members wrote. */
  readonly pool: Pool
  readonly users: SeededUsers
  /** The cluster's channel prefix in Redis, unique to the test file. */
  readonly prefix: string
  /** A member on an ephemeral port, closed after the test; on the shared Redis unless `redisUrl`. */
  member(node: string, lease?: Lease, redisUrl?: string): Promise<TestServer>
  /** Destroyed after the test. */
  track(p: WebsocketProvider): WebsocketProvider
  /** The document as PostgreSQL holds it. */
  stored(docName: string): Promise<Y.Doc>
}

/** Registers the hooks; the fields are set once `beforeAll` ran. */
export function clusterServers(): ClusterServers {
  let database: Awaited<ReturnType<typeof freshDatabase>>
  const open: TestServer[] = []
  const providers: WebsocketProvider[] = []
  const fixture = {
    databaseUrl: '',
    pool: undefined as unknown as Pool,
    users: undefined as unknown as SeededUsers,
    prefix: '',
    async member(node: string, lease: Lease = SHORT, redisUrl = REDIS_URL): Promise<TestServer> {
      const t = await startServer({ databaseUrl: database.url, redisUrl, node, cluster: { prefix: fixture.prefix, ...lease } })
      open.push(t)
      return t
    },
    track(p: WebsocketProvider): WebsocketProvider {
      providers.push(p)
      return p
    },
    async stored(docName: string): Promise<Y.Doc> {
      const doc = new Y.Doc()
      for (const update of (await new PgDocStore(fixture.pool).load(docName)).updates) Y.applyUpdate(doc, update)
      return doc
    },
  }
  beforeAll(async () => {
    database = await freshDatabase()
    fixture.databaseUrl = database.url
    fixture.prefix = uniquePrefix()
    // Migrated (and seeded) by a first member.
    fixture.users = await seedWorkspace((await fixture.member('seed')).server)
    fixture.pool = await openPool(database.url, { max: 2 })
  })
  afterEach(async () => {
    for (const p of providers.splice(0)) p.destroy()
    for (const t of open.splice(0)) await t.close()
  })
  afterAll(async () => {
    await fixture.pool?.end()
    await database?.drop()
  })
  return fixture
}
