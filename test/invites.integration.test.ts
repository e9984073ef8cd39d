/**
 * Invite links against the real server, on both backends: an owner or admin creates one
 * (`POST /api/admin/invites`), anyone holding it reads what it offers and accepts it once,
 * which adds the user and signs them in; a used link answers 410 in the contract's format.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeBackends } from './helpers/backends.js'
import { type Api, type TestServer, apiOf, login, startSeeded } from './helpers/server.js'

const PASSWORD = 'correct horse'

describeBackends('invite links', (backend) => {
  let t: TestServer
  let owner: Api
  let admin: Api
  let member: Api

  beforeAll(async () => {
    ;({
      t,
      api: { owner, member },
    } = await startSeeded(['owner', 'member'], backend.options(), 'inv'))
    expect((await owner.request('POST', '/api/admin/users', { email: 'adam@inv.test', role: 'admin', password: PASSWORD })).status).toBe(
      201,
    )
    admin = await login(t.url, 'adam@inv.test', PASSWORD)
  })
  afterAll(() => t.close())

  /** A request with no session, as the invited person's browser makes it. */
  const anonymous = (method: string, path: string, body?: unknown) =>
    fetch(`${t.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })

  it('[INV1] an admin invites; the link shows the workspace and role, signs the new user in once, then answers 410', async () => {
    expect((await member.request('POST', '/api/admin/invites', { role: 'member' })).status).toBe(403)
    const before = Date.now()
    const created = await admin.request('POST', '/api/admin/invites', { role: 'member' })
    expect(created.status).toBe(201)
    const { token, path, expiresAt } = created.body
    expect(path).toBe(`/invite/${token}`)
    expect(expiresAt - before).toBeGreaterThanOrEqual(7 * 86_400_000)
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(7 * 86_400_000)

    const shown = await anonymous('GET', `/api/invites/${token}`)
    expect(shown.status).toBe(200)
    expect(await shown.json()).toEqual({ workspace: { id: 'inv', name: expect.any(String) }, role: 'member', email: null, expiresAt })

    const accepted = await anonymous('POST', `/api/invites/${token}/accept`, {
      name: 'Nina New',
      password: PASSWORD,
      email: 'nina@inv.test',
    })
    expect(accepted.status).toBe(201)
    expect(accepted.headers.get('set-cookie')).toMatch(/HttpOnly/)
    const body = await accepted.json()
    expect(body.user).toMatchObject({ name: 'Nina New', email: 'nina@inv.test', role: 'member', workspace: 'inv' })
    const nina = apiOf(t.url, body.token, body.user.id)
    expect((await nina.request('GET', '/api/me')).body).toMatchObject({ email: 'nina@inv.test', role: 'member' })
    expect((await login(t.url, 'nina@inv.test', PASSWORD)).userId).toBe(body.user.id)
    expect((await owner.request('GET', '/api/admin/users')).body.items.map((u: { email: string }) => u.email)).toContain('nina@inv.test')

    for (const again of [
      await anonymous('GET', `/api/invites/${token}`),
      await anonymous('POST', `/api/invites/${token}/accept`, { name: 'Second', password: PASSWORD, email: 'second@inv.test' }),
    ]) {
      expect(again.status).toBe(410)
      expect((await again.json()).error).toEqual({ code: 'gone', message: expect.stringMatching(/used already or has expired/) })
    }
    const unknown = await anonymous('GET', '/api/invites/no-such-token')
    expect(unknown.status).toBe(404)
    expect((await unknown.json()).error.code).toBe('not-found')
  })

  it('[INV2] an invite for a fixed e-mail: shown, used whatever the form sends, another one refused; only an owner invites an owner', async () => {
    const created = await owner.request('POST', '/api/admin/invites', { role: 'viewer', email: 'vera@inv.test' })
    expect(created.status).toBe(201)
    const { token } = created.body
    expect((await (await anonymous('GET', `/api/invites/${token}`)).json()).email).toBe('vera@inv.test')
    const other = await anonymous('POST', `/api/invites/${token}/accept`, { name: 'Vera', password: PASSWORD, email: 'eve@inv.test' })
    expect(other.status).toBe(400)
    expect((await other.json()).error.message).toBe('this invite is for vera@inv.test')
    const short = await anonymous('POST', `/api/invites/${token}/accept`, { name: 'Vera', password: 'short' })
    expect(short.status).toBe(400)
    const accepted = await anonymous('POST', `/api/invites/${token}/accept`, { name: 'Vera', password: PASSWORD })
    expect(accepted.status).toBe(201)
    expect((await accepted.json()).user).toMatchObject({ email: 'vera@inv.test', role: 'viewer' })

    expect((await admin.request('POST', '/api/admin/invites', { role: 'owner' })).status).toBe(403)
    expect((await owner.request('POST', '/api/admin/invites', { role: 'owner' })).status).toBe(201)
    const badRole = await owner.request('POST', '/api/admin/invites', { role: 'boss' })
    expect(badRole.status).toBe(400)
    expect(badRole.body.error.code).toBe('invalid')
    expect((await owner.request('POST', '/api/admin/invites', { role: 'member', email: 'vera@inv.test' })).status).toBe(409)
  })
})
