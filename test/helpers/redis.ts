/**
 * Redis for tests: the shared server at `ACCORD_TEST_REDIS_URL` (default
 * `redis://127.0.0.1:6379`), used only for pub/sub on channels under a prefix unique to each
 * test, and private servers a test may kill and start again. When the shared server cannot be
 * reached, or `redis-server` is missing, the tests are skipped with one line saying why, except
 * under `CI=true`, where they run and fail.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { freePort } from './freePort.js'

export const REDIS_URL = process.env.ACCORD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const REDIS_SERVER = process.env.ACCORD_TEST_REDIS_SERVER ?? 'redis-server'

/** Whether something answers PING at `host:port` within `timeoutMs` (a raw RESP exchange). */
function pings(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')))
  })
}

const shared = new URL(REDIS_URL)
const reachable = await pings(shared.hostname, Number(shared.port || 6379))
const hasServer = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).status === 0

/** True when tests of the shared Redis are to be skipped: unreachable, and not on CI. */
export const skipRedis = !reachable && process.env.CI !== 'true'
if (skipRedis) console.warn(`Redis tests skipped: ${REDIS_URL} unreachable; set ACCORD_TEST_REDIS_URL`)

/** True when tests of a private Redis are to be skipped: no `redis-server`, and not on CI. */
export const skipPrivateRedis = !hasServer && process.env.CI !== 'true'
if (skipPrivateRedis) console.warn(`private Redis tests skipped: no ${REDIS_SERVER}; set ACCORD_TEST_REDIS_SERVER`)

/** A channel prefix no other test uses. */
export function uniquePrefix(): string {
  return `accord-test-${randomBytes(6).toString('hex')}`
}

export interface PrivateRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Kills it (SIGKILL): connections drop, nothing is saved. */
  kill(): Promise<void>
  /** Starts it again on the same port (if killed); returns once it answers PING. */
  start(): Promise<void>
  /** Stops (SIGSTOP) or resumes (SIGCONT) it: connections stay open, nothing is answered meanwhile. */
  pause(paused: boolean): void
}

/** Starts a Redis of the test's own on a free port, without persistence; `kill()` it in every case. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  if (!hasServer) throw new Error(`redis-server is required here (CI=true) but ${REDIS_SERVER} is missing`)
  const port = await freePort()
  let child: ChildProcess | null = null
  const killNow = () => {
    child?.kill('SIGKILL')
  }
  process.on('exit', killNow)
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() {
      const running = child
      if (!running) return
      child = null
      if (running.exitCode === null && running.signalCode === null) {
        const exited = new Promise((resolve) => running.once('exit', resolve))
        running.kill('SIGKILL')
        await exited
      }
    },
    pause(paused) {
      child?.kill(paused ? 'SIGSTOP' : 'SIGCONT')
    },
    async start() {
      if (child) return
      const started = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      })
      child = started
      const deadline = Date.now() + 10_000
      while (!(await pings('127.0.0.1', port, 500))) {
        if (started.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${started.exitCode}`)
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
  }
  await redis.start()
  return redis
}
