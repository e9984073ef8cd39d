/**
 * `npm run bench [-- --quick] [--servers accord,accordPostgres,hocuspocus,ywebsocket] [--workloads fanout,rooms,idle,cold,durability]`
 *
 * Starts each server in turn in its own child process, drives the workloads from
 * separate load-generator processes, and writes bench/results/latest.{json,md}.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { SERVER_KINDS, type ServerKind, type Target, isAccord } from './client.js'
import { renderCluster, runCluster } from './cluster.js'
import { driveRooms, loadgen, nextPort, waitReady } from './drive.js'
import { bareCommits, pacedBareCommits, summarize } from './bareCommit.js'
import { postgresVersion } from './postgres.js'
import { LABELS, type RunningServer, type ServerData, createServerData, startServer } from './servers.js'
import { renderMarkdown, type Results } from './report.js'

const ROOT = join(import.meta.dirname, '..')
const WORKLOADS = ['fanout', 'rooms', 'idle', 'cold', 'durability', 'cluster'] as const
/** `cluster` (bench/cluster.ts) runs only when named: it takes several minutes and needs Redis. */
const DEFAULT_WORKLOADS = WORKLOADS.filter((w) => w !== 'cluster')
type Workload = (typeof WORKLOADS)[number]

/** Sizes: the full scale where two shared cores allow it (see README, "Benchmark"). */
const SCALE = {
  full: {
    readers: 100,
    fanoutUpdates: 300,
    fanoutHz: 30,
    roomDocs: 1000,
    editors: 5,
    // Up to 4,000 updates/s: at 2,000 every server of the previous runs still met the target.
    roomStepsHz: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8],
    stepMs: 8000,
    stepUpdates: 2000,
    idleDocs: 2000,
    idleSockets: 10_000,
    coldUpdates: 10_000,
    durabilityMs: 3000,
  },
  quick: {
    readers: 100,
    fanoutUpdates: 100,
    fanoutHz: 30,
    roomDocs: 100,
    editors: 5,
    roomStepsHz: [0.2, 0.5, 1],
    stepMs: 4000,
    stepUpdates: 500,
    idleDocs: 200,
    idleSockets: 1000,
    coldUpdates: 2000,
    durabilityMs: 2000,
  },
} as const
export type Scale = (typeof SCALE)[keyof typeof SCALE]

const P99_TARGET_MS = 50
const COLD_RUNS = 5
/** Idle connections: how long the CPU of the quiet server is measured. */
const IDLE_CPU_MS = 10_000
/**
 * Bare SQLite commits timed before each server's fan-out and many-rooms workloads: the
 * disk's floor, sampled across the run as the servers are (the machine's load moves both).
 */
const BARE_COMMITS = 200
const BARE_WORKLOADS: readonly Workload[] = ['fanout', 'rooms']
/** Bare commits at the fan-out writer's pace, timed before each server's fan-out (see `pacedBareCommits`). */
const PACED_BARE_COMMITS = 60

const docName = (kind: ServerKind, i: number | string) => (isAccord(kind) ? `bench/customers/d${i}` : `d${i}`)
/** The default line-up; add `accordNormal` with `--servers` to see what fsync per flush costs. */
const DEFAULT_SERVERS: ServerKind[] = ['accord', 'accordPostgres', 'hocuspocus', 'ywebsocket']
const target = (s: RunningServer): Target => ({ kind: s.kind, wsUrl: s.wsUrl, token: s.tokens[0]! })

/** Fresh data for one workload on one server, removed afterwards (a PostgreSQL database dropped). */
async function withData<T>(kind: ServerKind, fn: (data: ServerData) => Promise<T>): Promise<T> {
  const data = await createServerData(kind)
  try {
    return await fn(data)
  } finally {
    await data.remove()
  }
}

/** One server started once on fresh data. */
function withServer<T>(kind: ServerKind, sockets: number, docs: number, fn: (s: RunningServer) => Promise<T>): Promise<T> {
  return withData(kind, async (data) => {
    const server = await startServer(kind, data, nextPort(), sockets, docs)
    try {
      return await fn(server)
    } finally {
      await server.stop()
    }
  })
}

async function runFanout(kind: ServerKind, scale: Scale) {
  return withServer(
    kind,
    scale.readers + 1,
    0,
    async (s) =>
      loadgen({
        role: 'fanout',
        target: target(s),
        tokens: s.tokens,
        docName: docName(kind, 'fan'),
        readers: scale.readers,
        updates: scale.fanoutUpdates,
        rateHz: scale.fanoutHz,
      }).done,
  )
}

async function runRooms(kind: ServerKind, scale: Scale) {
  return withServer(kind, scale.roomDocs * scale.editors, scale.roomDocs, async (s) => {
    const names = Array.from({ length: scale.roomDocs }, (_, i) => docName(kind, i))
    return driveRooms([s], target(s), s.tokens, names, scale)
  })
}

async function runIdle(kind: ServerKind, scale: Scale) {
  return withServer(kind, scale.idleSockets, scale.idleDocs, async (s) => {
    const names = Array.from({ length: scale.idleDocs }, (_, i) => docName(kind, i))
    const base = await s.probe(true)
    const first = loadgen({ role: 'idle', target: target(s), tokens: s.tokens, docNames: names, socketsPerDoc: 1 })
    await waitReady(first)
    const oneEach = await s.probe(true)
    const extraPerDoc = scale.idleSockets / scale.idleDocs - 1
    const half = Math.ceil(extraPerDoc / 2)
    const more = [half, extraPerDoc - half]
      .filter((n) => n > 0)
      .map((n, g) => loadgen({ role: 'idle', target: target(s), tokens: rotate(s.tokens, g * 7 + 3), docNames: names, socketsPerDoc: n }))
    await Promise.all(more.map(waitReady))
    const all = await s.probe(true)
    // CPU with every socket open and nothing happening: what keeping them costs.
    await s.resetLoop()
    await new Promise((r) => setTimeout(r, IDLE_CPU_MS))
    const quiet = await s.probe()
    for (const g of [first, ...more]) g.stdinClose()
    await Promise.all([first, ...more].map((g) => g.done))
    const extraSockets = scale.idleSockets - scale.idleDocs
    const perConnection = (all.rss - oneEach.rss) / extraSockets
    const perDocument = (oneEach.rss - base.rss) / scale.idleDocs - perConnection
    return {
      sockets: scale.idleSockets,
      docs: scale.idleDocs,
      baseRss: base.rss,
      totalRss: all.rss,
      perConnectionKb: perConnection / 1024,
      perDocumentKb: perDocument / 1024,
      heapPerConnectionKb: (all.heapUsed - oneEach.heapUsed) / extraSockets / 1024,
      idleCpuPercent: (quiet.cpuMs / IDLE_CPU_MS) * 100,
    }
  })
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length
  return items.slice(k).concat(items.slice(0, k))
}

async function runCold(kind: ServerKind, scale: Scale) {
  return withData(kind, async (data) => {
    const port = nextPort()
    let s = await startServer(kind, data, port, 40)
    const name = docName(kind, 'cold')
    const connections = 20
    await loadgen({
      role: 'write',
      target: target(s),
      tokens: s.tokens,
      docName: name,
      updates: scale.coldUpdates,
      connections,
      perConnectionHz: 100,
    }).done
    await new Promise((r) => setTimeout(r, 3000))
    await s.stop()
    const runs: number[] = []
    const expectedLength = Array.from({ length: scale.coldUpdates }, (_, i) => `u${i + 1};`).join('').length
    let length = 0
    // The median of five restarts: a single cold start varies by ±30 % on a shared machine.
    for (let i = 0; i < COLD_RUNS; i++) {
      s = await startServer(kind, data, port)
      const r = await loadgen({ role: 'read', target: target(s), docName: name, expectLength: expectedLength }).done
      runs.push(r.loadedMs)
      length = r.length
      await s.stop()
    }
    return {
      updates: scale.coldUpdates,
      loadMs: runs.sort((a, b) => a - b)[Math.floor(COLD_RUNS / 2)]!,
      runsMs: runs,
      complete: length === expectedLength,
    }
  })
}

async function runDurability(kind: ServerKind, scale: Scale) {
  return withData(kind, async (data) => {
    const port = nextPort()
    let s = await startServer(kind, data, port)
    const name = docName(kind, 'dur')
    const w = await loadgen({
      role: 'durability',
      target: target(s),
      tokens: s.tokens,
      docName: name,
      rateHz: 100,
      killAfterMs: scale.durabilityMs,
      serverPid: s.child.pid!,
    }).done
    await s.stop()
    s = await startServer(kind, data, port)
    const r = await loadgen({ role: 'read', target: target(s), docName: name }).done
    await s.stop()
    const present = new Set<number>(r.stamps)
    const survived = (w.broadcast as number[]).filter((x) => present.has(x)).length
    return {
      written: w.written,
      broadcast: w.broadcast.length,
      survived,
      fraction: w.broadcast.length ? survived / w.broadcast.length : null,
    }
  })
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, servers: { type: 'string' }, workloads: { type: 'string' }, merge: { type: 'boolean' } },
    strict: true,
  })
  const scale = values.quick ? SCALE.quick : SCALE.full
  let servers = (values.servers?.split(',') ?? DEFAULT_SERVERS) as ServerKind[]
  const workloads = (values.workloads?.split(',') ?? DEFAULT_WORKLOADS) as Workload[]
  for (const k of servers) if (!SERVER_KINDS.includes(k)) throw new Error(`unknown server ${k}`)
  for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}`)
  if (workloads.includes('cluster')) {
    // Its own files: a cluster run does not replace the servers' latest results.
    const cluster = await runCluster(scale, (line) => process.stderr.write(`${line}\n`))
    const md = renderCluster(cluster, values.quick ? 'quick' : 'full', loadavg())
    writeFileSync(join(ROOT, 'bench', 'results', 'cluster.json'), `${JSON.stringify(cluster, null, 2)}\n`)
    writeFileSync(join(ROOT, 'bench', 'results', 'cluster.md'), md)
    console.log(md)
    if (workloads.length === 1) return
  }
  // Accord on PostgreSQL needs a PostgreSQL server: asked for by name, it must be there;
  // in the default line-up it is left out, with one line, where there is none.
  let postgres: string | undefined
  if (servers.includes('accordPostgres')) {
    try {
      postgres = await postgresVersion()
    } catch (error) {
      if (values.servers) throw error
      process.stderr.write(`bench: Accord on PostgreSQL left out: ${(error as Error).message}\n`)
      servers = servers.filter((k) => k !== 'accordPostgres')
    }
  }
  const startedAt = new Date()
  const results: Results = {
    startedAt: startedAt.toISOString(),
    mode: values.quick ? 'quick' : 'full',
    scale,
    p99TargetMs: P99_TARGET_MS,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
      ...(postgres ? { postgres } : {}),
    },
    servers: Object.fromEntries(servers.map((k) => [k, LABELS[k]])),
    workloads: {},
  }
  // --merge: add these servers' figures to the previous results (same scale) instead of replacing them.
  const previous = values.merge ? (JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8')) as Results) : null
  if (previous && previous.mode !== results.mode) throw new Error(`--merge: the previous results are ${previous.mode} scale`)
  if (previous) {
    results.servers = { ...previous.servers, ...results.servers }
    results.workloads = previous.workloads
    results.startedAt = previous.startedAt
    results.machine = {
      ...previous.machine,
      ...(postgres ? { postgres } : {}),
      merged: `${values.servers ?? ''} at ${startedAt.toISOString()}`,
    }
  }
  const runners = { cluster: null, fanout: runFanout, rooms: runRooms, idle: runIdle, cold: runCold, durability: runDurability } as const
  const bare: number[] = []
  const paced: number[] = []
  const pacedMs = 1000 / scale.fanoutHz
  for (const w of workloads) {
    const runner = runners[w]
    if (!runner) continue
    results.workloads[w] ??= {}
    for (const k of servers) {
      if (BARE_WORKLOADS.includes(w)) bare.push(...(await bareCommits(BARE_COMMITS)))
      if (w === 'fanout') paced.push(...(await pacedBareCommits(PACED_BARE_COMMITS, pacedMs)))
      process.stderr.write(`bench: ${w} on ${LABELS[k]} ...\n`)
      const t0 = Date.now()
      try {
        results.workloads[w]![k] = await runner(k, scale)
      } catch (error) {
        results.workloads[w]![k] = { error: (error as Error).message.slice(0, 300) }
      }
      process.stderr.write(`bench: ${w} on ${LABELS[k]} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
    }
  }
  if (bare.length > 0) results.bareCommit = summarize(bare)
  if (paced.length > 0) results.pacedBareCommit = summarize(paced, pacedMs)
  results.finishedAt = new Date().toISOString()
  results.machine.loadAverageAtEnd = loadavg().map((l) => Math.round(l * 100) / 100)
  const md = renderMarkdown(results)
  writeFileSync(join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(join(ROOT, 'bench', 'results', 'latest.md'), md)
  console.log(md)
}
