/**
 * Accord for the benchmark: the same AccordServer as `accord serve` (default options,
 * synchronous=FULL, persist before broadcast), on SQLite (`DB_FILE`) or on PostgreSQL
 * (`DATABASE_URL`), with a `bench` workspace of members so that 10,000 sockets stay under
 * the per-user connection limit. With `REDIS_URL` (and `DATABASE_URL`) a cluster member.
 */
import { AccordServer } from '../../server/AccordServer.js'
import { createLogger } from '../../server/log.js'
import { textOf } from '../../shared/textFields.js'
import { serverOrigin } from '../../server/sync/types.js'

/** Enough members for the sockets of the workload (200 per user). */
export const BENCH_USERS = Number(process.env.BENCH_USERS ?? 10)
export const BENCH_PASSWORD = 'bench-password'

const synchronous = process.env.ACCORD_SYNCHRONOUS === 'normal' ? 'normal' : 'full'
const writer = process.env.ACCORD_WRITER === 'inline' || process.env.ACCORD_WRITER === 'thread' ? process.env.ACCORD_WRITER : 'auto'
// A cluster member (bench/cluster.ts) with REDIS_URL, NODE_ID, CLUSTER_PREFIX and CLUSTER_LEASE_MS.
const leaseMs = Number(process.env.CLUSTER_LEASE_MS) || undefined
const server = await AccordServer.open({
  db: process.env.DB_FILE,
  databaseUrl: process.env.DATABASE_URL || undefined,
  redisUrl: process.env.REDIS_URL || undefined,
  node: process.env.NODE_ID || undefined,
  cluster: {
    prefix: process.env.CLUSTER_PREFIX || undefined,
    leaseMs,
    renewEveryMs: leaseMs && Math.min(1000, leaseMs / 5),
    safetyMarginMs: leaseMs && Math.min(1000, leaseMs / 5),
  },
  port: Number(process.env.PORT),
  logger: createLogger('warn'),
  synchronous,
  writer,
})
if (!(await server.auth.hasWorkspace('bench'))) {
  await server.auth.addWorkspace('bench')
  for (let i = 0; i < BENCH_USERS; i++)
    await server.auth.addUser({
      workspace: 'bench',
      email: `b${i}@bench.test`,
      password: BENCH_PASSWORD,
      role: 'member',
      name: `Bench ${i}`,
    })
}
if (process.env.SEED_ONLY === '1') {
  // Every document the bench opens is a valid customer record (a record document without
  // its required fields is reverted by the validation gate, as it should be). Whether one is
  // stored is asked of the document store, the same question on every backend. Seeding runs
  // in its own process, so the server under test starts with none of it in memory.
  const docs = ['fan', 'cold', 'dur', ...Array.from({ length: Number(process.env.BENCH_DOCS ?? 0) }, (_, i) => String(i))]
  const stored = await Promise.all(docs.map(async (d) => (await server.backend.docStore.load(`bench/customers/d${d}`)).updates.length > 0))
  await Promise.all(
    docs
      .filter((_, i) => !stored[i])
      .map((d) =>
        server.registry.use(`bench/customers/d${d}`, (room) => {
          room.doc.transact(() => textOf(room.doc, 'name').insert(0, `Bench ${d}`), serverOrigin('api'))
        }),
      ),
  )
  await server.close()
  process.exit(0)
}
const url = await server.start()
console.log(`listening on ${url}`)
const stop = () =>
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
