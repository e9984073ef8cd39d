/**
 * Driving the load generators (bench/loadgen.ts, each in its own process) against running
 * servers: shared by the workloads of run.ts and the cluster's (cluster.ts).
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type { Target } from './client.js'
import type { Job } from './loadgen.js'
import type { Scale } from './run.js'
import type { RunningServer } from './servers.js'

const ROOT = join(import.meta.dirname, '..')
/** Many rooms: unmeasured edits at the first rate before the measured steps. */
const WARMUP_MS = 3000

let port = 19_000 + Math.floor(Math.random() * 2000)
/** A port for the next server started. */
export const nextPort = (): number => port++

export interface LoadGen {
  done: Promise<any>
  /** Resolves when the generator prints READY (its sockets are synced). */
  ready: Promise<void>
  stdinClose(): void
}

export function loadgen(job: Job): LoadGen {
  let markReady: () => void = () => undefined
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'loadgen.ts'), JSON.stringify(job)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
    let nl: number
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl)
      out = out.slice(nl + 1)
      if (line.startsWith('{')) last = line
      else if (line === 'READY') markReady()
    }
  })
  let last = ''
  const done = new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0 && last ? resolve(JSON.parse(last)) : reject(new Error(`load generator ${job.role} exited ${code}`)),
    ),
  )
  return { done, ready, stdinClose: () => child.stdin.end() }
}

export function waitReady(g: LoadGen): Promise<void> {
  return Promise.race([g.ready, g.done.then(() => Promise.reject(new Error('the load generator ended early')))])
}

/**
 * The many-rooms workload: `names` × `scale.editors` sockets from two load generators, the
 * rate stepped up, each step's latency and the servers' event loop and CPU. `wsUrls` (a
 * cluster's members): socket k of each generator connects to `wsUrls[k % n]`.
 */
export async function driveRooms(
  servers: RunningServer[],
  target: Target,
  tokens: string[],
  names: string[],
  scale: Scale,
  wsUrls?: string[],
) {
  const startAt = Date.now() + 25_000 + scale.roomDocs * scale.editors * 3
  // A warm-up at the first rate, not measured: the first edits a server ever handles pay
  // for compiling its write path, which is not the steady state the steps measure.
  const warmup = { perEditorHz: scale.roomStepsHz[0]!, startAt, durationMs: WARMUP_MS }
  const measuredFrom = startAt + WARMUP_MS + 1500
  // A step lasts stepMs, and longer at the low rates, until it has stepUpdates updates: its p99
  // is then the 20th worst of them, not the 4th (50 updates/s for 8 s), which one pause decides.
  const steps: Extract<Job, { role: 'rooms' }>['steps'] = [warmup]
  let stepAt = measuredFrom
  for (const hz of scale.roomStepsHz) {
    const durationMs = Math.max(scale.stepMs, Math.ceil((scale.stepUpdates / (hz * scale.roomDocs * scale.editors)) * 1000))
    steps.push({ perEditorHz: hz, startAt: stepAt, durationMs })
    stepAt += durationMs + 1500
  }
  const halves = [names.filter((_, i) => i % 2 === 0), names.filter((_, i) => i % 2 === 1)]
  const tokensOf = (g: number) => (tokens.length < 2 ? tokens : tokens.filter((_, i) => i % 2 === g))
  const gens = halves.map(
    (part, g) => loadgen({ role: 'rooms', target, tokens: tokensOf(g), wsUrls, docNames: part, editors: scale.editors, steps }).done,
  )
  for (const g of gens) g.catch(() => undefined)
  const loops: { p99: number; max: number; cpuMs: number }[] = []
  for (const step of steps.slice(1)) {
    await new Promise((r) => setTimeout(r, Math.max(0, step.startAt - Date.now())))
    await Promise.all(servers.map((s) => s.resetLoop()))
    await new Promise((r) => setTimeout(r, step.durationMs))
    // A cluster's: the worst member's event loop, every member's CPU.
    const probes = await Promise.all(servers.map((s) => s.probe()))
    loops.push({
      p99: Math.max(...probes.map((p) => p.loopP99Ms)),
      max: Math.max(...probes.map((p) => p.loopMaxMs)),
      cpuMs: probes.reduce((n, p) => n + p.cpuMs, 0),
    })
  }
  const parts = (await Promise.all(gens)) as {
    steps: { perEditorHz: number; sent: number; expected: number; received: number; p50: number; p99: number }[]
  }[]
  return steps.slice(1).map((step, i) => {
    const merged = parts.map((p) => p.steps[i + 1]!)
    const sent = merged.reduce((n, m) => n + m.sent, 0)
    const expected = merged.reduce((n, m) => n + m.expected, 0)
    const received = merged.reduce((n, m) => n + m.received, 0)
    return {
      updatesPerS: Math.round(sent / (step.durationMs / 1000)),
      delivered: expected ? received / expected : 0,
      p50: Math.max(...merged.map((m) => m.p50 ?? Infinity)),
      p99: Math.max(...merged.map((m) => m.p99 ?? Infinity)),
      loopP99Ms: loops[i]!.p99,
      loopMaxMs: loops[i]!.max,
      cpuPerUpdateMs: loops[i]!.cpuMs / Math.max(1, sent),
    }
  })
}
