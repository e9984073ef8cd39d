/**
 * Drivers: start one server under test in its own child process (with the probe
 * preloaded and `--expose-gc`), wait until it listens, sign in, stop or SIGKILL it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../bin/compiled.js'
import { type ServerKind, isAccord } from './client.js'
import { freshDatabase } from './postgres.js'

const ROOT = join(import.meta.dirname, '..')
const PROBE = join(ROOT, 'bench', 'probe.cjs')
const START_TIMEOUT_MS = 60_000
/** Servers still running, killed if the orchestrator exits early. */
const LIVE = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of LIVE) child.kill('SIGKILL')
})

export interface Probe {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  loopP50Ms: number
  loopP99Ms: number
  loopMaxMs: number
  /** CPU time of the whole process (all threads) since the last reset. */
  cpuMs: number
}

export interface RunningServer {
  kind: ServerKind
  child: ChildProcess
  port: number
  wsUrl: string
  httpUrl: string
  /** Sign-in tokens (Accord: one per bench user; the others accept any). */
  tokens: string[]
  /** Event-loop delay and memory; `memory` collects garbage first (for the idle workload only). */
  probe(memory?: boolean): Promise<Probe>
  resetLoop(): Promise<void>
  stop(): Promise<void>
  kill(): Promise<void>
}

export const LABELS: Record<ServerKind, string> = {
  accord: 'Accord on SQLite',
  accordPostgres: 'Accord on PostgreSQL',
  hocuspocus: 'Hocuspocus 3.4 + SQLite',
  ywebsocket: 'y-websocket 1.5.4 + LevelDB',
  accordNormal: 'Accord, synchronous=NORMAL',
}

let compiled: Promise<string> | null = null
/** Accord runs compiled, as `npm start` runs it: bench/servers/accord.ts bundled once per run into bench/build/. */
function compiledAccord(): Promise<string> {
  compiled ??= buildServer({ outdir: join(ROOT, 'bench', 'build'), entries: { accord: 'bench/servers/accord.ts' } }).then(({ outdir }) =>
    join(outdir, 'accord.mjs'),
  )
  return compiled
}

/**
 * Where one server keeps its data through one workload, restarts included: a temporary
 * folder, and for Accord on PostgreSQL a database of its own as well.
 */
export interface ServerData {
  dir: string
  databaseUrl: string | null
  /** Removes the folder and drops the database. */
  remove(): Promise<void>
}

export async function createServerData(kind: ServerKind): Promise<ServerData> {
  const dir = mkdtempSync(join(tmpdir(), `accord-bench-${kind}-`))
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  if (kind !== 'accordPostgres') return { dir, databaseUrl: null, remove: async () => removeDir() }
  const database = await freshDatabase().catch((error) => {
    removeDir()
    throw error
  })
  return {
    dir,
    databaseUrl: database.url,
    async remove() {
      removeDir()
      await database.drop()
    },
  }
}

async function commandOf(kind: ServerKind, data: ServerData, port: number): Promise<{ args: string[]; env: Record<string, string> }> {
  // BENCH_SERVER_NODE_ARGS: extra Node flags for the server under test (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const node = ['--expose-gc', '--require', PROBE, ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [])]
  switch (kind) {
    case 'accord':
    case 'accordNormal':
      return {
        args: [...node, await compiledAccord()],
        env: { DB_FILE: join(data.dir, 'accord.db'), PORT: String(port), ACCORD_SYNCHRONOUS: kind === 'accordNormal' ? 'normal' : 'full' },
      }
    case 'accordPostgres':
      return { args: [...node, await compiledAccord()], env: { DATABASE_URL: data.databaseUrl!, PORT: String(port) } }
    case 'hocuspocus':
      return {
        args: [...node, join(ROOT, 'bench', 'servers', 'hocuspocus.mjs')],
        env: { DB_FILE: join(data.dir, 'hocuspocus.sqlite'), PORT: String(port) },
      }
    case 'ywebsocket':
      return {
        args: [...node, join(ROOT, 'node_modules', 'y-websocket-server-legacy', 'bin', 'server.js')],
        env: { YPERSISTENCE: join(data.dir, 'leveldb'), HOST: '127.0.0.1', PORT: String(port) },
      }
  }
}

/** `sockets`: the most this run opens at once (Accord allows 200 sockets and 100 documents per user; the bench signs in enough users). */
/** `extraEnv`: more of the server's environment (a cluster member's `REDIS_URL`, say); seeding runs without it. */
export async function startServer(
  kind: ServerKind,
  data: ServerData,
  port: number,
  sockets = 200,
  docs = 0,
  extraEnv: Record<string, string> = {},
): Promise<RunningServer> {
  const { args, env } = await commandOf(kind, data, port)
  const users = Math.max(4, Math.ceil(sockets / 90))
  env.BENCH_USERS = String(users)
  env.BENCH_DOCS = String(docs)
  if (isAccord(kind)) {
    const seeded = spawnSync(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env, SEED_ONLY: '1' },
      encoding: 'utf8',
      timeout: START_TIMEOUT_MS,
    })
    if (seeded.status !== 0) throw new Error(`seeding ${kind} failed: ${seeded.stderr.slice(-1000)}`)
  }
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, ...extraEnv, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let output = ''
  // BENCH_SERVER_OUT: also append the server's stdout and stderr (its log) to this file (e.g. with `--trace-gc`).
  const copyTo = process.env.BENCH_SERVER_OUT
  child.stdout!.on('data', (c: Buffer) => {
    output += c.toString()
    if (copyTo) appendFileSync(copyTo, c)
  })
  child.stderr!.on('data', (c: Buffer) => {
    output += c.toString()
    if (copyTo) appendFileSync(copyTo, c)
  })
  LIVE.add(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  void exited.then(() => LIVE.delete(child))
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${kind} did not start: ${output.slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  const ask = <T>(message: string) =>
    new Promise<T>((resolve) => {
      child.once('message', (reply) => resolve(reply as T))
      child.send(message)
    })
  const httpUrl = `http://127.0.0.1:${port}`
  const server: RunningServer = {
    kind,
    child,
    port,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    tokens: ['bench'],
    probe: (memory = false) => ask<Probe>(memory ? 'probe-memory' : 'probe'),
    resetLoop: async () => void (await ask('reset')),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
    async kill() {
      child.kill('SIGKILL')
      await exited
    },
  }
  if (isAccord(kind)) server.tokens = await signIn(httpUrl, users)
  return server
}

const BENCH_PASSWORD = 'bench-password'

/**
 * Signs the members in, at most `SIGN_INS_AT_ONCE` at a time: the server counts a sign-in
 * against its address when it starts and gives it back when it succeeds, so more than
 * `LOGIN_FAILURES_PER_ADDRESS` (100) at once from one address are refused (429), as they
 * would be for any client.
 */
async function signIn(url: string, users: number): Promise<string[]> {
  const tokens: string[] = []
  for (let from = 0; from < users; from += SIGN_INS_AT_ONCE) {
    const batch = Array.from({ length: Math.min(SIGN_INS_AT_ONCE, users - from) }, async (_, k) => {
      const res = await fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `b${from + k}@bench.test`, password: BENCH_PASSWORD }),
      })
      if (res.status !== 200) throw new Error(`bench sign-in failed: ${res.status} ${await res.text()}`)
      return ((await res.json()) as { token: string }).token
    })
    tokens.push(...(await Promise.all(batch)))
  }
  return tokens
}

const SIGN_INS_AT_ONCE = 50

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
