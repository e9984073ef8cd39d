/** The `accord` command: one clear line and a non-zero exit for every error. */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { runCli } from './helpers/child.js'
import { tempDir } from './helpers/server.js'

const dir = tempDir()
const db = join(dir, 'cli.db')

function expectOneLineError(result: ReturnType<typeof runCli>, pattern: RegExp) {
  expect(result.status).not.toBe(0)
  expect(result.stderr.trim().split('\n')).toHaveLength(1)
  expect(result.stderr).toMatch(pattern)
}

describe('accord CLI', () => {
  it('adds a workspace and a user', () => {
    expect(runCli(['workspace', 'add', 'sales', '--name', 'Sales', '--db', db]).status).toBe(0)
    const ok = runCli(['user', 'add', '--workspace', 'sales', '--email', 'ann@sales.test', '--password', 'password1', '--role', 'admin', '--db', db])
    expect(ok.status).toBe(0)
    expect(ok.stdout).toMatch(/ann@sales.test \(admin\) added/)
  })

  it('user add with a bad role prints one line and exits non-zero', () => {
    const bad = runCli(['user', 'add', '--workspace', 'sales', '--email', 'bob@sales.test', '--password', 'password1', '--role', 'king', '--db', db])
    expectOneLineError(bad, /role must be one of owner, admin, member, viewer/)
  })

  it('user add with an existing e-mail prints one line and exits non-zero', () => {
    const again = runCli(['user', 'add', '--workspace', 'sales', '--email', 'ANN@sales.test', '--password', 'password1', '--role', 'member', '--db', db])
    expectOneLineError(again, /already exists/)
  })

  it('rejects unknown commands, unknown flags, missing flags and unknown workspaces', () => {
    expectOneLineError(runCli(['user', 'add', '--workspace', 'nope', '--email', 'x@y.test', '--password', 'password1', '--role', 'member', '--db', db]), /no workspace "nope"/)
    expectOneLineError(runCli(['user', 'add', '--email', 'x@y.test', '--db', db]), /--workspace is required/)
    expectOneLineError(runCli(['workspace', 'add', 'sales', '--db', db]), /already exists/)
    expectOneLineError(runCli(['serve', '--port', 'abc', '--db', db]), /port must be/)
    expectOneLineError(runCli(['serve', '--port', '0', '--db', db], { ACCORD_WRITER: 'fast' }), /ACCORD_WRITER must be "auto", "thread" or "inline", not "fast"/)
    expect(runCli(['launch']).status).not.toBe(0)
  })

  it('serve refuses an ACCORD_ALLOWED_ORIGINS entry that is not scheme://host[:port], and an unknown ACCORD_TRUST_PROXY, with one line', () => {
    for (const origins of ['crm.example.com', 'https://crm.example.com/app', 'ftp://x.test', 'https://ok.test,*']) {
      expectOneLineError(runCli(['serve', '--port', '0', '--db', db], { ACCORD_ALLOWED_ORIGINS: origins }), /ACCORD_ALLOWED_ORIGINS: ".+" is not an origin \(scheme:\/\/host\[:port\]/)
    }
    expectOneLineError(runCli(['serve', '--port', '0', '--db', db], { ACCORD_TRUST_PROXY: 'yes please' }), /ACCORD_TRUST_PROXY must be "on", "off" or the number of proxies in front \(1, 2, …\), not "yes please"/)
  })

  it('demo seeds the demo workspace once', () => {
    const demoDb = join(dir, 'demo.db')
    expect(runCli(['demo', '--db', demoDb]).status).toBe(0)
    const sqlite = new Database(demoDb, { readonly: true })
    const users = sqlite.prepare("SELECT email, role FROM users WHERE workspace = 'demo' ORDER BY email").all()
    const collections = sqlite.prepare("SELECT collection, COUNT(*) AS n FROM records WHERE workspace = 'demo' GROUP BY collection").all() as { collection: string; n: number }[]
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
