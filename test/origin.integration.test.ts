/**
 * Who may use the session cookie: a WebSocket upgrade or a state-changing request that
 * authenticates by the cookie must come from the server's own origin or an allowed one
 * (cross-site WebSocket hijacking, cross-site request forgery); bearer tokens are not
 * affected. And the cookie is `Secure` when the sign-in came over HTTPS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { parseOrigin } from '../server/auth/OriginPolicy.js'
import { type Api, type TestServer, login, seedWorkspace, startServer } from './helpers/server.js'

const ALLOWED = 'https://app.example.test'
const FOREIGN = 'http://evil.example'

/** Signs in with fetch and returns the `Cookie` header a browser would send back, and the raw `Set-Cookie`. */
async function signIn(url: string, email: string, password: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  })
  expect(res.status).toBe(200)
  const setCookie = res.headers.get('set-cookie') ?? ''
  return { cookie: setCookie.split(';')[0]!, setCookie }
}

type UpgradeOutcome = { opened: true; firstMessage: Buffer } | { opened: false; status: number; body: unknown }

/** Opens a socket with these headers: either it opens (and the server's first message arrives) or the upgrade is answered with a plain HTTP status. */
function upgrade(url: string, headers: Record<string, string>): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.once('message', (data: Buffer) => {
      resolve({ opened: true, firstMessage: data })
      ws.close()
    })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => resolve({ opened: false, status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }))
    })
    ws.once('close', (code) => reject(new Error(`socket closed with ${code} before any outcome`)))
    ws.on('error', () => undefined)
  })
}

describe('parseOrigin', () => {
  it('[O0] normalizes scheme://host[:port] as browsers send Origin, and refuses anything else', () => {
    expect(parseOrigin('HTTPS://App.Example.test:443')).toBe('https://app.example.test')
    expect(parseOrigin('http://127.0.0.1:5173/')).toBe('http://127.0.0.1:5173')
    expect(parseOrigin('http://[::1]:8787')).toBe('http://[::1]:8787')
    for (const bad of [
      'null',
      'app.example.test',
      'https://a.test/path',
      'https://a.test?x',
      'https://user@a.test',
      'ftp://a.test',
      '*',
      '',
    ]) {
      expect(parseOrigin(bad)).toBeNull()
    }
  })
})

describe('the session cookie and the Origin', () => {
  let t: TestServer
  let users: Awaited<ReturnType<typeof seedWorkspace>>
  let member: Api
  let cookie: string
  let dealId: string

  beforeAll(async () => {
    t = await startServer({ allowedOrigins: [ALLOWED] })
    users = await seedWorkspace(t.server)
    member = await login(t.url, users.member.email, users.member.password)
    ;({ cookie } = await signIn(t.url, users.member.email, users.member.password))
    dealId = (await member.request('POST', '/api/records/deals', { title: 'Target' })).body.id
  })
  afterAll(() => t.close())

  const dealDoc = () => `${t.wsUrl}/sync/acme/deals/${dealId}`

  /** A request carrying the cookie (and no bearer token), as a browser sends it. */
  async function withCookie(method: string, path: string, headers: Record<string, string>, body?: unknown) {
    const json = body !== undefined && !(body instanceof FormData)
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { cookie, ...(json ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : json ? JSON.stringify(body) : (body as FormData),
    })
    const text = await res.text()
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as { error?: { code: string; message: string } } & Record<string, unknown>) : null,
    }
  }

  const csvForm = () => {
    const form = new FormData()
    form.set('collection', 'deals')
    form.set('file', new Blob(['title,amount\nImported,5\n'], { type: 'text/csv' }), 'deals.csv')
    return form
  }

  /** Every state-changing route, each as a cookie request with these headers. */
  const stateChanging = (headers: Record<string, string>) => ({
    'POST /api/records/deals': () => withCookie('POST', '/api/records/deals', headers, { title: 'Forged' }),
    'PATCH /api/records/deals/:id': () => withCookie('PATCH', `/api/records/deals/${dealId}`, headers, { title: 'Forged' }),
    'DELETE /api/records/deals/:id': () => withCookie('DELETE', `/api/records/deals/${dealId}`, headers),
    'POST /api/imports (multipart)': () => withCookie('POST', '/api/imports', headers, csvForm()),
    'POST /api/exports': () => withCookie('POST', '/api/exports', headers, { target: 'csv', collections: ['deals'] }),
    'POST /api/calendar/events/:id/retry': () => withCookie('POST', '/api/calendar/events/e1/retry', headers),
    'POST /api/auth/logout': () => withCookie('POST', '/api/auth/logout', headers),
  })

  const jobCount = () => (t.server.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n

  it('[O1] an upgrade with the cookie from a foreign Origin, or with no Origin at all, is answered HTTP 403 forbidden-origin before any WebSocket message', async () => {
    for (const headers of [{ cookie, origin: FOREIGN }, { cookie }, { cookie, origin: 'null' }] as Record<string, string>[]) {
      const outcome = await upgrade(dealDoc(), headers)
      expect(outcome).toMatchObject({ opened: false, status: 403, body: { error: { code: 'forbidden-origin' } } })
    }
    expect(t.server.sync.connectionCount).toBe(0)
  })

  it('[O2] an upgrade with the cookie from the server’s own origin or from ACCORD_ALLOWED_ORIGINS opens and syncs', async () => {
    for (const origin of [t.url, ALLOWED]) {
      const outcome = await upgrade(dealDoc(), { cookie, origin })
      expect(outcome.opened).toBe(true)
    }
  })

  it('[O3] an upgrade with a bearer token (?token=) from a foreign Origin is not affected', async () => {
    expect((await upgrade(`${dealDoc()}?token=${member.token}`, { origin: FOREIGN })).opened).toBe(true)
    expect((await upgrade(dealDoc(), { authorization: `Bearer ${member.token}`, origin: FOREIGN })).opened).toBe(true)
  })

  it('[O4] every state-changing route with the cookie from a foreign Origin, or with neither Origin nor Referer, answers 403 forbidden-origin and changes nothing', async () => {
    const jobsBefore = jobCount()
    for (const headers of [{ origin: FOREIGN }, {}, { referer: `${FOREIGN}/page` }] as Record<string, string>[]) {
      for (const [route, send] of Object.entries(stateChanging(headers))) {
        const res = await send()
        expect({ route, headers, status: res.status, code: res.body?.error?.code }).toEqual({
          route,
          headers,
          status: 403,
          code: 'forbidden-origin',
        })
        expect(res.body?.error?.message).toEqual(expect.any(String))
      }
    }
    expect(jobCount()).toBe(jobsBefore)
    const deal = await member.request('GET', `/api/records/deals/${dealId}`)
    expect(deal.status).toBe(200)
    expect(deal.body.title).toBe('Target')
    expect((await member.request('GET', '/api/records/deals?q=Forged')).body.items).toEqual([])
    // The cookie's session was not logged out.
    expect((await withCookie('GET', '/api/me', {})).status).toBe(200)
  })

  it('[O5] reads with the cookie are not checked: a cross-site page cannot read the answer anyway', async () => {
    expect((await withCookie('GET', '/api/me', { origin: FOREIGN })).status).toBe(200)
  })

  it('[O6] a bearer request from a foreign Origin still works', async () => {
    const res = await member.request('POST', '/api/records/deals', { title: 'By token' }, { origin: FOREIGN })
    expect(res.status).toBe(201)
  })

  it('[O7] the state-changing routes with the cookie from the server’s own origin, an allowed one, or (lacking Origin) a same-origin Referer go through', async () => {
    const expected: Record<string, number> = {
      'POST /api/records/deals': 201,
      'PATCH /api/records/deals/:id': 200,
      'DELETE /api/records/deals/:id': 204,
      'POST /api/imports (multipart)': 202,
      'POST /api/exports': 202,
      'POST /api/calendar/events/:id/retry': 404,
      'POST /api/auth/logout': 204,
    }
    for (const headers of [{ origin: t.url }, { origin: ALLOWED }, { referer: `${t.url}/deals` }] as Record<string, string>[]) {
      ;({ cookie } = await signIn(t.url, users.member.email, users.member.password))
      dealId = (await member.request('POST', '/api/records/deals', { title: 'Target' })).body.id
      for (const [route, send] of Object.entries(stateChanging(headers))) {
        const res = await send()
        expect({ route, headers, status: res.status }).toEqual({ route, headers, status: expected[route] })
      }
      expect((await withCookie('GET', '/api/me', {})).status).toBe(401)
    }
  })
})

describe('behind a proxy (ACCORD_TRUST_PROXY)', () => {
  let trusting: TestServer
  let direct: TestServer
  let users: Awaited<ReturnType<typeof seedWorkspace>>

  beforeAll(async () => {
    trusting = await startServer({ trustProxy: true })
    direct = await startServer()
    users = await seedWorkspace(trusting.server)
    await seedWorkspace(direct.server)
  })
  afterAll(async () => {
    await trusting.close()
    await direct.close()
  })

  const HTTPS = { 'x-forwarded-proto': 'https' }

  it('[O8] with trust proxy on, a sign-in forwarded as HTTPS gets a Secure cookie, one over plain HTTP does not', async () => {
    expect((await signIn(trusting.url, users.owner.email, users.owner.password, HTTPS)).setCookie).toMatch(/; Secure(;|$)/)
    expect((await signIn(trusting.url, users.owner.email, users.owner.password)).setCookie).not.toMatch(/Secure/)
  })

  it('[O9] with trust proxy off, X-Forwarded-Proto is ignored: no Secure cookie', async () => {
    expect((await signIn(direct.url, users.owner.email, users.owner.password, HTTPS)).setCookie).not.toMatch(/Secure/)
  })

  it('[O10] the server’s own origin is the forwarded scheme and host only when the proxy is trusted', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'crm.example.test', origin: 'https://crm.example.test' }
    const doc = (t: TestServer) => `${t.wsUrl}/sync/acme/index/deals`
    const viaTrusting = await signIn(trusting.url, users.owner.email, users.owner.password)
    expect((await upgrade(doc(trusting), { cookie: viaTrusting.cookie, ...forwarded })).opened).toBe(true)
    const viaDirect = await signIn(direct.url, users.owner.email, users.owner.password)
    expect(await upgrade(doc(direct), { cookie: viaDirect.cookie, ...forwarded })).toMatchObject({ opened: false, status: 403 })
  })
})
