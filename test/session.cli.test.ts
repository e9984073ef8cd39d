/** `ACCORD_SESSION_IDLE_MS` through the real CLI. */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { AccordServer } from '../server/AccordServer.js'
import { tempDir } from './helpers/server.js'
import { type ChildServer, killHard, runCli, spawnServer } from './helpers/child.js'

describe('ACCORD_SESSION_IDLE_MS', () => {
  let child: ChildServer | undefined
  afterAll(async () => {
    if (child) await killHard(child)
  })

  it('[S6] a bad value exits non-zero with one line', () => {
    const result = runCli(['serve', '--port', '0', '--db', join(tempDir(), 'a.db')], { ACCORD_SESSION_IDLE_MS: 'soon' })
    expect(result.status).not.toBe(0)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(/ACCORD_SESSION_IDLE_MS/)
  })

  it('[S6] sets the sliding session lifetime of `accord serve`', async () => {
    const db = join(tempDir(), 'accord.db')
    const setup = new AccordServer({ db })
    await setup.auth.addWorkspace('acme')
    await setup.auth.addUser({ workspace: 'acme', email: 'a@acme.test', password: 'correct horse', role: 'member' })
    await setup.registry.close()
    setup.db.close()
    child = await spawnServer(db, 0, { ACCORD_SESSION_IDLE_MS: '5000' })
    const res = await fetch(`${child.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@acme.test', password: 'correct horse' }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('set-cookie')).toMatch(/Max-Age=5(;|$)/)
  })
})
