/**
 * The cluster workload (`npm run bench -- --workloads cluster`, docs/cluster.md): Accord
 * members as separate processes on one PostgreSQL database (fresh, as for accordPostgres)
 * and Redis (`ACCORD_BENCH_REDIS_URL`, default the local one; channels under a prefix of the
 * run's own), each started as the benchmarked Accord is (bench/servers/accord.ts).
 *
 * - many rooms, as the workload of that name: on one member; on three, each document's
 *   editors spread over them; on three, every editor on a member that does not own its
 *   document (one idle socket per document on the first member makes it the owner).
 * - fan-out: 1 writer on the owner, 100 readers on it, then on another member (a relay).
 * - failover: an owner killed with SIGKILL while a writer and an observer on another member
 *   type: the time until the observer receives the first edit typed after the kill
 *   (`CLUSTER_LEASE_MS`, default 2000, decides most of it).
 */
import { randomBytes } from 'node:crypto'
import type { Target } from './client.js'
import { driveRooms, loadgen, nextPort, waitReady } from './drive.js'
import type { Scale } from './run.js'
import { type RunningServer, type ServerData, createServerData, startServer } from './servers.js'

const REDIS_URL = process.env.ACCORD_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const LEASE_MS = Number(process.env.CLUSTER_LEASE_MS ?? 2000)
const FAILOVER_RUNS = 3
const docName = (i: number | string) => `bench/customers/d${i}`

/** `count` members on `data`, started one after the other (each seeds first, idempotently). */
async function members(data: ServerData, count: number, sockets: number, docs: number): Promise<RunningServer[]> {
  const prefix = `accord-bench-${randomBytes(4).toString('hex')}`
  const started: RunningServer[] = []
  for (let i = 0; i < count; i++)
    started.push(
      await startServer('accordPostgres', data, nextPort(), sockets, docs, {
        REDIS_URL,
        NODE_ID: `bench-${i + 1}`,
        CLUSTER_PREFIX: prefix,
        CLUSTER_LEASE_MS: String(LEASE_MS),
      }),
    )
  return started
}

async function withMembers<T>(count: number, sockets: number, docs: number, fn: (m: RunningServer[]) => Promise<T>): Promise<T> {
  const data = await createServerData('accordPostgres')
  try {
    const started = await members(data, count, sockets, docs)
    try {
      return await fn(started)
    } finally {
      for (const m of started) await m.stop()
    }
  } finally {
    await data.remove()
  }
}

const target = (s: RunningServer): Target => ({ kind: 'accordPostgres', wsUrl: s.wsUrl, token: s.tokens[0]! })

/** One idle socket per document on `owner`, kept open: `owner` loads and owns them all. */
async function anchor(owner: RunningServer, names: string[]) {
  const g = loadgen({ role: 'idle', target: target(owner), tokens: owner.tokens, docNames: names, socketsPerDoc: 1 })
  await waitReady(g)
  return g
}

type Placement = 'one' | 'spread' | 'nonOwners'

async function rooms(placement: Placement, scale: Scale) {
  const sockets = scale.roomDocs * scale.editors
  const names = Array.from({ length: scale.roomDocs }, (_, i) => docName(i))
  return withMembers(placement === 'one' ? 1 : 3, sockets + scale.roomDocs, scale.roomDocs, async (m) => {
    const owner = placement === 'nonOwners' ? await anchor(m[0]!, names) : null
    try {
      const on = placement === 'nonOwners' ? m.slice(1) : m
      return await driveRooms(
        m,
        target(m[0]!),
        m[0]!.tokens,
        names,
        scale,
        on.map((s) => s.wsUrl),
      )
    } finally {
      owner?.stdinClose()
      await owner?.done
    }
  })
}

/** Readers on the owner, or on a relay: the writer is on the owner either way. */
async function fanout(through: 'owner' | 'relay', scale: Scale) {
  return withMembers(2, scale.readers + 2, 0, async ([a, b]) => {
    const owner = await anchor(a!, [docName('fan')])
    try {
      return await loadgen({
        role: 'fanout',
        target: target(a!),
        tokens: a!.tokens,
        docName: docName('fan'),
        readers: scale.readers,
        updates: scale.fanoutUpdates,
        rateHz: scale.fanoutHz,
        wsUrls: [(through === 'owner' ? a! : b!).wsUrl],
        writerWsUrl: a!.wsUrl,
      }).done
    } finally {
      owner.stdinClose()
      await owner.done.catch(() => undefined)
    }
  })
}

/** kill -9 of the owner to the first edit accepted after it: the median of a few runs, each on two members started afresh. */
async function failover() {
  const data = await createServerData('accordPostgres')
  const runs: (number | null)[] = []
  try {
    for (let i = 0; i < FAILOVER_RUNS; i++) {
      const [owner, other] = await members(data, 2, 10, FAILOVER_RUNS)
      try {
        const name = docName(i)
        const held = await anchor(owner!, [name])
        const r = await loadgen({
          role: 'failover',
          target: target(other!),
          tokens: other!.tokens,
          docName: name,
          rateHz: 50,
          killAfterMs: 1500,
          ownerPid: owner!.child.pid!,
        }).done
        held.stdinClose()
        await held.done.catch(() => undefined)
        runs.push(r.killToFirstAcceptedMs)
      } finally {
        for (const m of [owner!, other!]) await m.stop()
      }
    }
  } finally {
    await data.remove()
  }
  const done = runs.filter((r): r is number => r !== null).sort((x, y) => x - y)
  return { leaseMs: LEASE_MS, runsMs: runs, medianMs: done.length ? done[Math.floor(done.length / 2)]! : null }
}

export async function runCluster(scale: Scale, progress: (line: string) => void) {
  const results: Record<string, unknown> = { leaseMs: LEASE_MS }
  const parts: [string, () => Promise<unknown>][] = [
    ['roomsOne', () => rooms('one', scale)],
    ['roomsSpread', () => rooms('spread', scale)],
    ['roomsNonOwners', () => rooms('nonOwners', scale)],
    ['fanoutOwner', () => fanout('owner', scale)],
    ['fanoutRelay', () => fanout('relay', scale)],
    ['failover', failover],
  ]
  for (const [name, run] of parts) {
    const t0 = Date.now()
    try {
      results[name] = await run()
    } catch (error) {
      results[name] = { error: (error as Error).message.slice(0, 300) }
    }
    progress(`bench: cluster ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  }
  return results
}

type Step = { updatesPerS: number; delivered: number; p50: number; p99: number; loopP99Ms: number; cpuPerUpdateMs: number }

/** The cluster's figures as a Markdown section (bench/results/cluster.md). */
export function renderCluster(results: Record<string, any>, mode: string, load: number[]): string {
  const ms = (v: unknown) => (typeof v === 'number' ? `${v.toFixed(1)} ms` : 'n/a')
  const rates: string[] = Array.isArray(results.roomsOne) ? results.roomsOne.map((s: Step) => `${s.updatesPerS}/s`) : []
  const lines = [
    `## Cluster (${mode} scale, lease ${results.leaseMs} ms, load average ${load.map((l) => l.toFixed(2)).join(' ')} at the end)`,
    '',
    `| many rooms: p50 / p99 (delivered) | ${rates.join(' | ')} |`,
    `|---|${rates.map(() => '---|').join('')}`,
  ]
  for (const [key, label] of [
    ['roomsOne', 'one member'],
    ['roomsSpread', 'three, editors spread'],
    ['roomsNonOwners', 'three, editors on non-owners'],
  ] as const) {
    const steps = results[key]
    const cells = Array.isArray(steps)
      ? steps.map((s: Step) => `${ms(s.p50)} / ${ms(s.p99)} (${(s.delivered * 100).toFixed(1)} %)`)
      : [JSON.stringify(steps)]
    lines.push(`| ${label} | ${cells.join(' | ')} |`)
  }
  lines.push('', '| fan-out, 1 writer on the owner | update → all readers p50 | p99 | → first reader p50 |', '|---|---|---|---|')
  for (const [key, label] of [
    ['fanoutOwner', 'readers on the owner'],
    ['fanoutRelay', 'readers on a relay'],
  ] as const) {
    const r = results[key]
    lines.push(`| ${label} | ${ms(r?.toAllP50)} | ${ms(r?.toAllP99)} | ${ms(r?.toFirstP50)} |`)
  }
  const f = results.failover
  lines.push(
    '',
    `kill -9 of the owner → first edit accepted after it (seen by another client): median ${ms(f?.medianMs)} (runs: ${Array.isArray(f?.runsMs) ? f.runsMs.map((r: number | null) => (r === null ? 'none within 60 s' : `${Math.round(r)} ms`)).join(', ') : JSON.stringify(f)})`,
    '',
  )
  return lines.join('\n')
}
