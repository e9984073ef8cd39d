/**
 * A PostgreSQL server of a test's own, in a temporary folder on a free port, that the test
 * may stop and start (the machine's shared server must never be stopped under other tests).
 * Made with `initdb` and run with `pg_ctl` as the `postgres` user when the tests run as root
 * (PostgreSQL refuses to run as root), else as the current user. When `initdb` is missing the
 * tests are skipped with one line saying why, except under `CI=true`, where they run and fail.
 */
import { spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './freePort.js'

const BIN = process.env.ACCORD_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const INITDB = join(BIN, 'initdb')
const PG_CTL = join(BIN, 'pg_ctl')

/** True when private PostgreSQL tests are to be skipped: no `initdb`, and not on CI. */
export const skipPrivatePg = !existsSync(INITDB) && process.env.CI !== 'true'
if (skipPrivatePg) console.warn(`private PostgreSQL tests skipped: no ${INITDB}; set ACCORD_TEST_PG_BIN to PostgreSQL's bin folder`)

export interface PrivatePg {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  /** `pg_ctl stop`: `fast` shuts down cleanly, `immediate` is a crash (recovery on the next start). */
  stop(mode: 'fast' | 'immediate'): void
  /** Starts it again on the same port (if stopped); returns once it accepts connections. */
  start(): void
  /**
   * SIGSTOPs the postmaster and every process of it: a server that hangs. The kernel still
   * accepts connections on its port, but nothing answers them, nor any query in flight.
   */
  freeze(): void
  /** SIGCONTs what `freeze` stopped (and any process of it since): it answers again. */
  thaw(): void
  /** Stops it if it runs and removes its folder. */
  destroy(): void
}

/** As root, the command runs as `postgres`: initdb and postgres refuse to run as root. */
function run(command: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0
  const result = asRoot
    ? spawnSync('runuser', ['-u', 'postgres', '--', command, ...args], { encoding: 'utf8', timeout: 60_000 })
    : spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 })
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout}`)
}

/** Makes, starts and returns a private server; `destroy()` it in every case (an exit stops it too). */
export async function startPrivatePg(): Promise<PrivatePg> {
  if (!existsSync(INITDB)) throw new Error(`PostgreSQL's initdb is required here (CI=true) but ${INITDB} is missing`)
  const dir = mkdtempSync(join(tmpdir(), 'accord-pg-'))
  if (process.getuid?.() === 0) {
    const { uid, gid } = postgresUser()
    chownSync(dir, uid, gid)
  }
  const data = join(dir, 'data')
  const port = await freePort()
  let running = false
  const stopNow = (mode: 'fast' | 'immediate') => {
    if (!running) return
    run(PG_CTL, ['-D', data, '-m', mode, '-w', 'stop'])
    running = false
  }
  /** The postmaster (from its pid file) and its children. */
  const processes = (): number[] => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map(Number)
    return [postmaster, ...children]
  }
  const signal = (name: 'SIGSTOP' | 'SIGCONT') => {
    for (const pid of processes()) {
      try {
        process.kill(pid, name)
      } catch (error) {
        // A backend that ended between the listing and the signal (its client went away).
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
      }
    }
  }
  const onExit = () => {
    try {
      if (running) signal('SIGCONT')
      stopNow('immediate')
    } catch {
      // The folder goes with the machine's temp cleanup; nothing else can be done at exit.
    }
  }
  process.on('exit', onExit)
  const pg: PrivatePg = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: stopNow,
    start() {
      if (running) return
      // Small: a test server needs few connections and little memory beside the shared one.
      const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=40 -c shared_buffers=16MB`
      run(PG_CTL, ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '60', 'start'])
      running = true
    },
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    destroy() {
      process.off('exit', onExit)
      // A frozen server would not stop.
      if (running) pg.thaw()
      try {
        stopNow('immediate')
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
  try {
    run(INITDB, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions'])
    pg.start()
  } catch (error) {
    pg.destroy()
    throw error
  }
  return pg
}

function postgresUser(): { uid: number; gid: number } {
  const result = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
  if (result.status !== 0 || group.status !== 0) throw new Error('running as root needs a "postgres" user to run PostgreSQL as')
  return { uid: Number(result.stdout.trim()), gid: Number(group.stdout.trim()) }
}
