/** The `accord` command: one clear line and a non-zero exit for every error. */
import { existsSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ChildServer, expectOneLineError, killHard, runCli, spawnServer } from './helpers/child.js'
import { tempDir, until } from './helpers/server.js'

const dir = tempDir()
const db = join(dir, 'cli.db')

describe('accord CLI', () => {
  it('adds a workspace and a user', () => {
    expect(runCli(['workspace', 'add', 'sales', '--name', 'Sales', '--db', db]).status).toBe(0)
    const ok = runCli([
      'user',
      'add',
      '--workspace',
      'sales',
      '--email',
      'ann@sales.test',
      '--password',
      'password1',
      '--role',
      'admin',
      '--db',
      db,
    ])
    expect(ok.status).toBe(0)
    expect(ok.stdout).toMatch(/ann@sales.test \(admin\) added/)
  })

  it('user add with a bad role prints one line and exits non-zero', () => {
    const bad = runCli([
      'user',
      'add',
      '--workspace',
      'sales',
      '--email',
      'bob@sales.test',
      '--password',
      'password1',
      '--role',
      'king',
      '--db',
      db,
    ])
    expectOneLineError(bad, /role must be one of owner, admin, member, viewer/)
  })

  it('user add with an existing e-mail prints one line and exits non-zero', () => {
    const again = runCli([
      'user',
      'add',
      '--workspace',
      'sales',
      '--email',
      'ANN@sales.test',
      '--password',
      'password1',
      '--role',
      'member',
      '--db',
      db,
    ])
    expectOneLineError(again, /already exists/)
  })

  it('rejects unknown commands, unknown flags, missing flags and unknown workspaces', () => {
    expectOneLineError(
      runCli(['user', 'add', '--workspace', 'nope', '--email', 'x@y.test', '--password', 'password1', '--role', 'member', '--db', db]),
      /no workspace "nope"/,
    )
    expectOneLineError(runCli(['user', 'add', '--email', 'x@y.test', '--db', db]), /--workspace is required/)
    expectOneLineError(runCli(['workspace', 'add', 'sales', '--db', db]), /already exists/)
    expectOneLineError(runCli(['serve', '--port', 'abc', '--db', db]), /port must be/)
    expectOneLineError(
      runCli(['serve', '--port', '0', '--db', db], { ACCORD_WRITER: 'fast' }),
      /ACCORD_WRITER must be "auto", "thread" or "inline", not "fast"/,
    )
    expect(runCli(['launch']).status).not.toBe(0)
  })

  it('serve refuses an ACCORD_ALLOWED_ORIGINS entry that is not scheme://host[:port], and an unknown ACCORD_TRUST_PROXY, with one line', () => {
    for (const origins of ['crm.example.com', 'https://crm.example.com/app', 'ftp://x.test', 'https://ok.test,*']) {
      expectOneLineError(
        runCli(['serve', '--port', '0', '--db', db], { ACCORD_ALLOWED_ORIGINS: origins }),
        /ACCORD_ALLOWED_ORIGINS: ".+" is not an origin \(scheme:\/\/host\[:port\]/,
      )
    }
    expectOneLineError(
      runCli(['serve', '--port', '0', '--db', db], { ACCORD_TRUST_PROXY: 'yes please' }),
      /ACCORD_TRUST_PROXY must be "on", "off" or the number of proxies in front \(1, 2, …\), not "yes please"/,
    )
  })

  it('serve refuses ACCORD_REDIS_URL (a cluster member) without ACCORD_DATABASE_URL, with one line and no database file', () => {
    const file = join(dir, 'member.db')
    const result = runCli(['serve', '--port', '0', '--db', file], { ACCORD_REDIS_URL: 'redis://127.0.0.1:6379', ACCORD_DATABASE_URL: '' })
    expectOneLineError(result, /ACCORD_REDIS_URL makes a cluster member, which needs ACCORD_DATABASE_URL/)
    expect(result.status).toBe(2)
    expect(existsSync(file)).toBe(false)
  })

  it('serve refuses an ACCORD_CLUSTER_LEASE_MS that is not a whole number of milliseconds >= 500, with one line', () => {
    for (const value of ['abc', '499', '1.5']) {
      const result = runCli(['serve', '--port', '0', '--db', join(dir, 'lease.db')], { ACCORD_CLUSTER_LEASE_MS: value })
      expectOneLineError(result, /ACCORD_CLUSTER_LEASE_MS must be a whole number of milliseconds >= 500/)
      expect(result.status).toBe(2)
    }
  })

  it('serve refuses an ACCORD_ROOMS room name longer than a text field, with one line and no database file', () => {
    const file = join(dir, 'rooms.db')
    const result = runCli(['serve', '--port', '0', '--db', file], { ACCORD_ROOMS: `Oslo, ${'x'.repeat(2001)}` })
    expectOneLineError(result, /ACCORD_ROOMS: a room name is at most 2000 characters/)
    expect(result.status).toBe(2)
    expect(existsSync(file)).toBe(false)
  })

  it('demo seeds the demo workspace once', () => {
    const demoDb = join(dir, 'demo.db')
    expect(runCli(['demo', '--db', demoDb]).status).toBe(0)
    const sqlite = new Database(demoDb, { readonly: true })
    const users = sqlite.prepare("SELECT email, role FROM users WHERE workspace = 'demo' ORDER BY email").all()
    const collections = sqlite
      .prepare("SELECT collection, COUNT(*) AS n FROM records WHERE workspace = 'demo' GROUP BY collection")
      .all() as { collection: string; n: number }[]
    sqlite.close()
    expect(users).toEqual([
      { email: 'alice@demo.test', role: 'owner' },
      { email: 'bob@demo.test', role: 'member' },
      { email: 'carol@demo.test', role: 'member' },
      { email: 'vera@demo.test', role: 'viewer' },
    ])
    expect(collections.map((c) => c.collection).sort()).toEqual(['customers', 'deals', 'events', 'invoices', 'leads', 'proposals'])
    expectOneLineError(runCli(['demo', '--db', demoDb]), /exists already/)
  })

  it('backup writes a consistent copy that opens', () => {
    const target = join(dir, 'backup.db')
    const result = runCli(['backup', target, '--db', db])
    expect(result.status).toBe(0)
    expect(existsSync(target)).toBe(true)
    const copy = new Database(target, { readonly: true })
    expect(copy.prepare('SELECT email FROM users').all()).toEqual([{ email: 'ann@sales.test' }])
    copy.close()
    expectOneLineError(runCli(['backup', target, '--db', db]), /exists already/)
  })
})

describe('accord serve: port, database path and log format', () => {
  const logsDb = join(dir, 'logs.db')
  const children: ChildServer[] = []

  beforeAll(() => {
    expect(runCli(['workspace', 'add', 'logs', '--db', logsDb]).status).toBe(0)
    expect(
      runCli([
        'user',
        'add',
        '--workspace',
        'logs',
        '--email',
        'lou@logs.test',
        '--password',
        'password1',
        '--role',
        'member',
        '--db',
        logsDb,
      ]).status,
    ).toBe(0)
  })
  afterAll(async () => {
    for (const child of children) await killHard(child)
  })

  /** Serves `logsDb` with `env`, signs in with a token-like query string, and returns stderr once the request is logged. */
  async function loginLogged(env: Record<string, string>): Promise<string> {
    const server = await spawnServer(logsDb, 0, env)
    children.push(server)
    const res = await fetch(`${server.url}/api/auth/login?token=secret-in-query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'lou@logs.test', password: 'password1' }),
    })
    expect(res.status).toBe(200)
    await until(() => server.output().includes('POST'), 'the login request was logged')
    return server.output()
  }

  function requestLines(output: string): Record<string, unknown>[] {
    return output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'request')
  }

  it('a taken port is one line naming the port and PORT=0, a non-zero exit, and no database file created', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const { port } = holder.address() as AddressInfo
    const fresh = join(dir, 'never-created.db')
    try {
      const result = runCli(['serve', '--port', String(port), '--db', fresh], { ACCORD_SEED: 'demo' })
      expectOneLineError(result, new RegExp(`port ${port} .*taken.*PORT=0`))
      expect(existsSync(fresh)).toBe(false)
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })

  it('a database path that cannot be created is one line naming the file', () => {
    const notADir = join(dir, 'a-file')
    writeFileSync(notADir, 'not a folder')
    expectOneLineError(runCli(['serve', '--port', '0', '--db', join(notADir, 'x.db')]), /cannot open the database .*a-file\/x\.db/)
  })

  it('an unknown LOG_FORMAT is one line naming the allowed values, before any database is created', () => {
    const fresh = join(dir, 'bad-format.db')
    expectOneLineError(
      runCli(['serve', '--port', '0', '--db', fresh], { LOG_FORMAT: 'xml' }),
      /LOG_FORMAT must be one of pretty, json, not "xml"/,
    )
    expect(existsSync(fresh)).toBe(false)
  })

  it('LOG_FORMAT=json logs a request as one JSON line with its full path and without its query string', async () => {
    const output = await loginLogged({ LOG_FORMAT: 'json' })
    expect(requestLines(output)).toContainEqual(
      expect.objectContaining({ level: 30, method: 'POST', path: '/api/auth/login', status: 200 }),
    )
    expect(output).not.toContain('secret-in-query')
  })

  it('when stderr is not a terminal and LOG_FORMAT is unset, logs are JSON (what CI and collectors read)', async () => {
    const output = await loginLogged({})
    expect(requestLines(output)).toContainEqual(expect.objectContaining({ method: 'POST', path: '/api/auth/login', status: 200 }))
  })

  it('LOG_FORMAT=pretty prints one readable line per request with the full path', async () => {
    const output = await loginLogged({ LOG_FORMAT: 'pretty' })
    expect(output).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: POST \/api\/auth\/login 200 [\d.]+ms$/m)
    expect(output).not.toMatch(/^\{/m)
    expect(output).not.toContain('secret-in-query')
  })
})
