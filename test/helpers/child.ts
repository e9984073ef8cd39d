/** The server as a child process, started through the real CLI (for kill -9 and restart tests). */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { expect } from 'vitest'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'accord.js')

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/** `bin`: another copy of bin/accord.js (the compiled-server test runs one built elsewhere). */
export function runCli(args: string[], env: Record<string, string> = {}, bin = BIN): CliResult {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** A failed command: a non-zero exit and exactly one line on stderr, matching `pattern`. */
export function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect(result.status).not.toBe(0)
  expect(result.stderr.trim().split('\n')).toHaveLength(1)
  expect(result.stderr).toMatch(pattern)
}

export interface ChildServer {
  child: ChildProcess
  url: string
  wsUrl: string
  output(): string
}

/** The CLI's arguments naming `db`, a SQLite file or a `postgres://` URL. */
export function databaseArgs(db: string): string[] {
  return /^postgres(ql)?:\/\//.test(db) ? ['--database-url', db] : ['--db', db]
}

/** Starts `accord serve` on `db` (a SQLite file or a `postgres://` URL) and resolves with its URL once it prints the listening line. */
export function spawnServer(db: string, port = 0, env: Record<string, string> = {}, bin = BIN): Promise<ChildServer> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', String(port), ...databaseArgs(db)], {
    env: { ...process.env, ACCORD_SEED: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const match = /accord listening on (http:\/\/\S+)/.exec(out)
      if (match) {
        child.stdout!.off('data', onData)
        resolve({ child, url: match[1]!, wsUrl: match[1]!.replace(/^http/, 'ws'), output: () => out })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${out}`)))
  })
}

export function killHard(server: ChildServer): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve()
    server.child.once('exit', () => resolve())
    server.child.kill('SIGKILL')
  })
}
