/**
 * `accord simulate`: N users work concurrently for a while, then the run checks the
 * invariants (replicas converged, every edit present, no double booking, every job
 * finished) and summarises what happened.
 */
import { randomBytes } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { AccordServer } from '../AccordServer.js'
import { fieldsOf, notesOf } from '../../shared/docLayout.js'
import { type BookedEvent, checkConverged, checkEditsPresent, checkJobsFinished, checkNoDoubleBooking } from './invariants.js'
import { LatencySamples } from './latency.js'
import { OPERATION_KINDS, type RunLedger, SimUser } from './SimUser.js'

export interface SimulationOptions {
  users: number
  durationS: number
  /** A running server; without it the simulation starts its own on a temporary database (or `db`). */
  url?: string
  /** Several members of one cluster instead of `url`: user i works through `urls[i % n]`. */
  urls?: readonly string[]
  db?: string
  /** Or this PostgreSQL database for the own server. */
  databaseUrl?: string
  /** Logins to use against `url`, cycled over the users. @default the demo users alice, bob, carol */
  logins?: { email: string; password: string }[]
  /** Where the report goes. @default console.log */
  print?: (line: string) => void
}

export interface SimulationReport {
  ok: boolean
  violations: string[]
  operations: Record<string, number>
  conflictsAvoided: number | null
  reverts: number | null
  invalidAttempts: number
  syncLatencyMs: ReturnType<LatencySamples['summary']>
  restLatencyMs: ReturnType<LatencySamples['summary']>
  /** REST latency by kind of call (create, patch, booking, export, …). */
  restLatencyByKindMs: Record<string, ReturnType<LatencySamples['summary']>>
  /**
   * The simulator's own event-loop delay over the run: when it is high, the REST and sync
   * latencies above include time the load generator took to notice answers, not only the
   * server's (with its own server, both share this process and this loop).
   */
  eventLoopDelayMs: { p50: number; p99: number; max: number }
  checks: { name: string; ok: boolean; detail: string }[]
}

const THINK_MIN_MS = 60
const THINK_SPREAD_MS = 240
const SETTLE_TIMEOUT_MS = 20_000
const SIM_WORKSPACE = 'sim'
/** ms; finer than the server's 10 ms, as a simulator stall of a few ms already skews its latencies. */
const LOOP_RESOLUTION_MS = 1
const DEMO_LOGINS = ['alice', 'bob', 'carol'].map((name) => ({ email: `${name}@demo.test`, password: 'accord-demo' }))

/** Runs one simulation; never throws for a violated invariant (see `report.ok`). */
export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  const print = options.print ?? ((line: string) => console.log(line))
  const own = options.url || options.urls?.length ? null : await startOwnServer(options)
  const urls = options.urls?.length ? options.urls : [options.url ?? own!.url]
  const url = urls[0]!
  const logins = own?.logins ?? options.logins ?? DEMO_LOGINS
  const ledger = newLedger()
  // y-websocket adds a process 'exit' listener per provider.
  process.setMaxListeners(Math.max(process.getMaxListeners(), options.users * 8 + 50))
  const users: SimUser[] = []
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  loop.enable()
  try {
    for (let i = 0; i < options.users; i++) {
      const { email, password } = logins[i % logins.length]!
      users.push(await SimUser.login(i, urls[i % urls.length]!, email, password, ledger))
    }
    ledger.userIds = [...new Set(users.map((u) => u.userId))]
    const revertsBefore = await scrapeReverts(urls)
    await Promise.all(users.map((u) => u.createRecords()))
    await Promise.all(
      users.map(async (u) => {
        for (let i = 0; i < 3; i++) await u.open(ledger.records[(u.index * 3 + i) % ledger.records.length]!)
      }),
    )
    const deadline = Date.now() + options.durationS * 1000
    await Promise.all(users.map((u) => work(u, deadline)))
    await Promise.all(users.map((u) => u.drained(Date.now() + SETTLE_TIMEOUT_MS)))
    const checks = await verify(url, users, ledger)
    const revertsAfter = await scrapeReverts(urls)
    loop.disable()
    const ms = (ns: number) => ns / 1e6
    const eventLoop = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) }
    const report = summarise(
      ledger,
      checks,
      revertsBefore === null || revertsAfter === null ? null : revertsAfter - revertsBefore,
      eventLoop,
    )
    printReport(print, options, urls.join(', '), report, ledger)
    return report
  } finally {
    loop.disable()
    for (const u of users) u.close()
    await own?.close()
  }
}

async function work(user: SimUser, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    await user.act()
    await new Promise((r) => setTimeout(r, THINK_MIN_MS + Math.random() * THINK_SPREAD_MS))
  }
}

function newLedger(): RunLedger {
  const runId = randomBytes(3).toString('hex')
  const day = Date.UTC(2031, 0, 1) + Math.floor(Math.random() * 3000) * 86_400_000
  return {
    runId,
    workspace: '',
    bookingDay: day,
    rooms: ['Atlas', 'Borealis', 'Cosmos'],
    userIds: [],
    records: [],
    sentAt: new Map(),
    markers: new Map(),
    events: [],
    jobs: [],
    operations: Object.fromEntries(OPERATION_KINDS.map((k) => [k, 0])) as RunLedger['operations'],
    invalidAttempts: 0,
    conflicts: null,
    syncLatency: new LatencySamples(),
    restLatency: new LatencySamples(),
    restLatencyByKind: new Map(),
    exportsAvailable: true,
    errors: [],
  }
}

// ---- verification ------------------------------------------------------------------

type Check = SimulationReport['checks'][number]

async function verify(url: string, users: SimUser[], ledger: RunLedger): Promise<Check[]> {
  const checker = users[0]!
  const convergence: string[] = []
  const missing: string[] = []
  let replicaCount = 0
  for (const record of ledger.records) {
    const reference = await freshCopy(url, checker.token, record.docName)
    try {
      const replicas = users.flatMap((u) => {
        const r = u.replicas.get(record.docName)
        return r ? [{ holder: u.name, doc: r.doc }] : []
      })
      replicaCount += replicas.length
      const state = (holder: string, doc: Y.Doc) => ({ holder, notes: notesOf(doc).toString(), fields: fieldsOf(doc).toJSON() })
      const problems = () =>
        checkConverged(
          record.docName,
          state('server', reference.doc),
          replicas.map((r) => state(r.holder, r.doc)),
        )
      const deadline = Date.now() + SETTLE_TIMEOUT_MS
      while (problems().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      convergence.push(...problems())
      const amount = fieldsOf(reference.doc).get('amount')
      if (typeof amount === 'number' && amount < 0) convergence.push(`${record.docName}: an invalid amount (${amount}) survived`)
      const markers = ledger.markers.get(record.docName) ?? []
      missing.push(...checkEditsPresent(record.docName, notesOf(reference.doc).toString(), markers))
      const rest = await checker.api('GET', `/api/records/${record.collection}/${record.id}`)
      missing.push(...checkEditsPresent(`${record.docName} (REST)`, String(rest.body?.notes ?? ''), markers))
    } finally {
      reference.close()
    }
  }
  const edits = [...ledger.markers.values()].reduce((n, s) => n + s.size, 0)
  const checks: Check[] = [
    {
      name: 'all replicas converged',
      ok: convergence.length === 0,
      detail: convergence.join('; ') || `${ledger.records.length} documents, ${replicaCount} replicas`,
    },
    {
      name: 'every edit present',
      ok: missing.length === 0,
      detail: missing.join('; ') || `${edits} typed edits, in every document and in the REST projection`,
    },
  ]
  const { conflicts, ...bookings } = await checkBookings(checker, ledger)
  ledger.conflicts = conflicts
  checks.push(bookings)
  checks.push(await checkJobs(users, ledger))
  checks.push({ name: 'no unexpected API errors', ok: ledger.errors.length === 0, detail: ledger.errors.slice(0, 5).join('; ') || 'none' })
  return checks
}

/** A new replica fetched from the server, synced. */
async function freshCopy(url: string, token: string, docName: string): Promise<{ doc: Y.Doc; close(): void }> {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`${url.replace(/^http/, 'ws')}/sync`, docName, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  await withTimeout(new Promise<void>((resolve) => provider.once('sync', () => resolve())), SETTLE_TIMEOUT_MS, `could not load ${docName}`)
  return {
    doc,
    close: () => {
      provider.destroy()
      doc.destroy()
    },
  }
}

async function checkBookings(user: SimUser, ledger: RunLedger): Promise<Check & { conflicts: number | null }> {
  const name = 'no double booking'
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  let events: BookedEvent[] = []
  for (;;) {
    events = await Promise.all(ledger.events.map(async (id) => (await user.api('GET', `/api/records/events/${id}`)).body as BookedEvent))
    const decided = events.filter((e) => e.reservation && e.reservation.status !== 'pending')
    if (decided.length === events.length) break
    if (Date.now() > deadline) {
      if (decided.length === 0)
        return { name, ok: true, conflicts: null, detail: `skipped: this server decides no reservations (${events.length} events booked)` }
      return { name, ok: false, conflicts: null, detail: `${events.length - decided.length} reservations still undecided` }
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const confirmed = events.filter((e) => e.reservation?.status === 'confirmed').length
  const conflicts = events.filter((e) => e.reservation?.status === 'conflict').length
  const problems = checkNoDoubleBooking(events)
  return {
    name,
    ok: problems.length === 0,
    conflicts,
    detail: problems.join('; ') || `${events.length} bookings: ${confirmed} confirmed, ${conflicts} refused as conflicts`,
  }
}

/** Jobs are visible to their owner only: each is polled by the user who started it. */
async function checkJobs(users: SimUser[], ledger: RunLedger): Promise<Check> {
  const name = 'every job finished'
  if (ledger.jobs.length === 0)
    return { name, ok: true, detail: ledger.exportsAvailable ? 'no exports were started' : 'skipped: this server has no /api/exports' }
  const deadline = Date.now() + SETTLE_TIMEOUT_MS * 3
  let jobs: { id: string; status: string }[] = []
  for (;;) {
    jobs = await Promise.all(
      ledger.jobs.map(async (key) => {
        const owner = users[Number(key.slice(0, key.indexOf(':')))]!
        const id = key.slice(key.indexOf(':') + 1)
        const res = await owner.api('GET', `/api/exports/${id}`)
        return { id, status: String(res.body?.status ?? `HTTP ${res.status}`) }
      }),
    )
    if (checkJobsFinished(jobs).length === 0 || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 100))
  }
  const problems = checkJobsFinished(jobs)
  const failed = jobs.filter((j) => j.status === 'failed').length
  return { name, ok: problems.length === 0, detail: problems.join('; ') || `${jobs.length} export jobs finished (${failed} failed)` }
}

// ---- reporting -------------------------------------------------------------------

/** The reverts counted by every server (each member of a cluster counts its own). */
async function scrapeReverts(urls: readonly string[]): Promise<number | null> {
  try {
    let total = 0
    for (const url of urls) {
      const res = await fetch(`${url}/metrics`)
      if (res.status !== 200) return null
      for (const line of (await res.text()).split('\n'))
        if (line.startsWith('accord_validation_reverts_total{')) total += Number(line.split(' ').pop())
    }
    return total
  } catch {
    return null
  }
}

function summarise(
  ledger: RunLedger,
  checks: Check[],
  reverts: number | null,
  eventLoopDelayMs: SimulationReport['eventLoopDelayMs'],
): SimulationReport {
  const violations = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)
  return {
    ok: violations.length === 0,
    violations,
    operations: { ...ledger.operations },
    conflictsAvoided: ledger.conflicts,
    reverts,
    invalidAttempts: ledger.invalidAttempts,
    syncLatencyMs: ledger.syncLatency.summary(),
    restLatencyMs: ledger.restLatency.summary(),
    restLatencyByKindMs: Object.fromEntries([...ledger.restLatencyByKind].map(([kind, samples]) => [kind, samples.summary()])),
    eventLoopDelayMs,
    checks,
  }
}

function printReport(
  print: (line: string) => void,
  options: SimulationOptions,
  url: string,
  report: SimulationReport,
  ledger: RunLedger,
): void {
  const ops = report.operations
  const total = Object.values(ops).reduce((a, b) => a + b, 0)
  const ms = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(1)} ms`)
  const lat = (s: SimulationReport['syncLatencyMs']) => `p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  (n=${s.count})`
  print(`accord simulate: ${options.users} users for ${options.durationS} s against ${url} (run ${ledger.runId})`)
  print(
    `operations        ${total}  (${Object.entries(ops)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  )
  print(`conflicts avoided ${report.conflictsAvoided ?? 'n/a'}  (bookings the server refused instead of double-booking)`)
  print(`reverts           ${report.reverts ?? 'n/a'}  (server-reverted client edits; ${report.invalidAttempts} invalid edits attempted)`)
  print(`latency edit -> other users  ${lat(report.syncLatencyMs)}`)
  print(`latency REST calls           ${lat(report.restLatencyMs)}`)
  for (const [kind, summary] of Object.entries(report.restLatencyByKindMs)) print(`  ${kind.padEnd(27)}${lat(summary)}`)
  const loop = report.eventLoopDelayMs
  print(
    `simulator event-loop delay   p50 ${ms(loop.p50)}  p99 ${ms(loop.p99)}  max ${ms(loop.max)}  (high: the load generator, not only the server, was slow)`,
  )
  print('invariants')
  for (const c of report.checks) print(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`)
  print(report.ok ? 'result: every invariant holds' : `result: ${report.violations.length} invariant(s) violated`)
}

// ---- own server ------------------------------------------------------------------

async function startOwnServer(options: SimulationOptions) {
  const dir = options.db || options.databaseUrl ? null : mkdtempSync(join(tmpdir(), 'accord-sim-'))
  const server = await AccordServer.open({
    db: options.db ?? (dir ? join(dir, 'accord.db') : undefined),
    databaseUrl: options.databaseUrl,
    port: 0,
    clientDir: join(tmpdir(), 'accord-no-client'),
  })
  if (!(await server.auth.hasWorkspace(SIM_WORKSPACE))) await server.auth.addWorkspace(SIM_WORKSPACE, 'Simulation')
  const password = randomBytes(9).toString('base64url')
  const runTag = randomBytes(3).toString('hex')
  const logins = []
  for (let i = 0; i < Math.min(options.users, 20); i++) {
    const email = `sim${i}-${runTag}@sim.test`
    await server.auth.addUser({ workspace: SIM_WORKSPACE, email, password, role: 'member', name: `Sim user ${i}` })
    logins.push({ email, password })
  }
  const url = await server.start()
  return {
    url,
    logins,
    async close() {
      await server.close()
      if (dir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() =>
    clearTimeout(timer),
  )
}
