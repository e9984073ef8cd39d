/**
 * Test harness: the real server on an ephemeral port with a real SQLite file in a
 * temporary folder, and real y-websocket providers over real sockets.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { AccordServer, type AccordOptions } from '../../server/AccordServer.js'

// y-websocket's provider adds a process 'exit' listener per instance; a test opens dozens.
process.setMaxListeners(200)

export interface TestServer {
  server: AccordServer
  url: string
  wsUrl: string
  dir: string
  dbFile: string
  close(): Promise<void>
}

export function tempDir(prefix = 'accord-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export async function startServer(options: AccordOptions = {}): Promise<TestServer> {
  const dir = tempDir()
  const dbFile = options.db ?? join(dir, 'accord.db')
  // On PostgreSQL when `options.databaseUrl` is set.
  const server = await AccordServer.open({
    port: 0,
    clientDir: join(dir, 'no-client'),
    registry: { unloadGraceMs: 100 },
    ...options,
    db: dbFile,
  })
  const url = await server.start()
  return {
    server,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    dir,
    dbFile,
    async close() {
      await server.close()
      if (!options.db) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The users `seedWorkspace` creates, by key (two members, so that tests have two writers). */
export type SeededRole = 'owner' | 'member' | 'member2' | 'viewer'
export type SeededUsers = Record<SeededRole, { email: string; password: string; id: string }>

/** Creates a workspace with one user per role; returns their credentials. */
export async function seedWorkspace(server: AccordServer, workspace = 'acme'): Promise<SeededUsers> {
  if (!server.auth.hasWorkspace(workspace)) server.auth.addWorkspace(workspace)
  const password = 'correct horse'
  const users = {} as SeededUsers
  for (const [key, role] of [
    ['owner', 'owner'],
    ['member', 'member'],
    ['member2', 'member'],
    ['viewer', 'viewer'],
  ] as const) {
    const email = `${key}@${workspace}.test`
    const user = await server.auth.addUser({ workspace, email, password, role, name: `${key} of ${workspace}` })
    users[key] = { email, password, id: user.id }
  }
  return users
}

export interface Api {
  token: string
  userId: string
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>
}

export async function login(url: string, email: string, password: string): Promise<Api> {
  const res = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`)
  const { token, user } = (await res.json()) as { token: string; user: { id: string } }
  return {
    token,
    userId: user.id,
    async request(method, path, body, headers = {}) {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      })
      const text = await r.text()
      let parsed: unknown = text
      try {
        parsed = text ? JSON.parse(text) : null
      } catch {
        /* not JSON */
      }
      return { status: r.status, body: parsed, headers: r.headers }
    },
  }
}

/** Signs in the given seeded users: one Api per key. */
export async function loginAs<R extends SeededRole>(url: string, users: SeededUsers, roles: readonly R[]): Promise<Record<R, Api>> {
  const apis = await Promise.all(roles.map((role) => login(url, users[role].email, users[role].password)))
  return Object.fromEntries(roles.map((role, i) => [role, apis[i]!])) as Record<R, Api>
}

export interface Seeded<R extends SeededRole> {
  t: TestServer
  users: SeededUsers
  api: Record<R, Api>
}

/**
 * The set-up most integration tests share: the real server (with `options`), a seeded
 * workspace, and the users of `roles` signed in.
 */
export async function startSeeded<R extends SeededRole>(
  roles: readonly R[],
  options: AccordOptions = {},
  workspace = 'acme',
): Promise<Seeded<R>> {
  const t = await startServer(options)
  const users = await seedWorkspace(t.server, workspace)
  return { t, users, api: await loginAs(t.url, users, roles) }
}

export interface ProviderOptions {
  connect?: boolean
  doc?: Y.Doc
  params?: Record<string, string>
}

/** The stock y-websocket provider, as any client would use it. */
export function provider(wsUrl: string, docName: string, token: string, options: ProviderOptions = {}): WebsocketProvider {
  return new WebsocketProvider(`${wsUrl}/sync`, docName, options.doc ?? new Y.Doc(), {
    params: { token, ...options.params },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    connect: options.connect ?? true,
    disableBc: true,
    maxBackoffTime: 200,
  })
}

export function synced(p: WebsocketProvider): Promise<void> {
  if (p.synced) return Promise.resolve()
  return new Promise((resolve) => {
    const handler = (isSynced: boolean) => {
      if (isSynced) {
        p.off('sync', handler)
        resolve()
      }
    }
    p.on('sync', handler)
  })
}

/**
 * A seeded workspace on `s` and a provider synced to its deals index, whose awareness shows
 * the presences in that document; `url` opens more sockets to it as the owner.
 */
export async function presenceWatcher(s: TestServer): Promise<{ url: string; watcher: WebsocketProvider }> {
  const { owner } = await loginAs(s.url, await seedWorkspace(s.server), ['owner'])
  const watcher = provider(s.wsUrl, 'acme/index/deals', owner.token)
  await synced(watcher)
  return { url: `${s.wsUrl}/sync/acme/index/deals?token=${owner.token}`, watcher }
}

/** Waits until `check` holds, re-checking on every tick; fails with `what` after `timeoutMs` (a hang guard only). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Opens a raw socket and resolves with its close code (for auth and limit tests). */
export function closeCodeOf(url: string, send?: (ws: WebSocket) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.binaryType = 'nodebuffer'
    ws.on('open', () => send?.(ws))
    ws.on('close', (code) => resolve(code))
    ws.on('error', (e) => reject(e))
  })
}

/** The value of one sample in Prometheus text format (0 when absent). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const [metric, value] = [line.slice(0, line.lastIndexOf(' ')), line.slice(line.lastIndexOf(' ') + 1)]
    const bare = metric.split('{')[0]
    if (bare !== name) continue
    if (want.every((w) => metric.includes(w))) return Number(value)
  }
  return 0
}
