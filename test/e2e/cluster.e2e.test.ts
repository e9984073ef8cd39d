/**
 * The cluster behind a real load balancer, with the real app: three `accord serve` members
 * (docs/cluster.md) on one fresh PostgreSQL database and a private Redis, behind a private
 * nginx whose configuration is the sample docs/deploy/nginx.conf itself (only its listen port
 * and its three servers replaced), serving the built client. Alice and Bob sign in through
 * nginx in headless Chromium, co-edit one customer, add tasks, download an export; then the
 * member owning the customer is stopped with SIGTERM (a rolling restart), later its next owner
 * is killed with SIGKILL, and what they typed survives both, on screen and in PostgreSQL.
 *
 * Skipped with one line when nginx is missing, except under CI=true, where it fails.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import JSZip from 'jszip'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PgDocStore } from '../../server/store/PgDocStore.js'
import { notesOf } from '../../shared/docLayout.js'
import { DEMO_PASSWORD, DEMO_WORKSPACE } from '../../server/seed/demo.js'
import { type ChildServer, killHard, spawnServer } from '../helpers/child.js'
import { freePort } from '../helpers/freePort.js'
import { skipPg, useMigratedDatabase } from '../helpers/pg.js'
import { type PrivateRedis, skipPrivateRedis, startPrivateRedis } from '../helpers/redis.js'
import { type Api, login, tempDir, until } from '../helpers/server.js'
import { buildClient, CHROMIUM_ARGS, recordId, UI_TIMEOUT_MS } from './browser.js'

const REPO = join(import.meta.dirname, '..', '..')
/** `ACCORD_TEST_NGINX`, else nginx on the PATH, else Debian's (/usr/sbin is not on every user's PATH). */
const NGINX = (process.env.ACCORD_TEST_NGINX ? [process.env.ACCORD_TEST_NGINX] : ['nginx', '/usr/sbin/nginx']).find(
  (bin) => spawnSync(bin, ['-v']).status === 0,
)
const hasNginx = NGINX !== undefined
const skipNginx = !hasNginx && process.env.CI !== 'true'
if (skipNginx) console.warn('cluster e2e tests skipped: no nginx; install nginx (or nginx-light) or set ACCORD_TEST_NGINX')
/** Members' lease: a killed member's documents wait this long for another owner. */
const LEASE_MS = 2000

interface Member {
  readonly node: string
  readonly port: number
  child: ChildServer
}

/**
 * The sample nginx.conf with its `listen` and its upstream servers replaced, inside the
 * smallest main configuration a private, unprivileged nginx needs (prefix, pid, temp paths).
 */
function nginxConfig(prefix: string, listen: number, ports: readonly number[]): string {
  const sample = readFileSync(join(REPO, 'docs', 'deploy', 'nginx.conf'), 'utf8')
  const servers = sample.match(/^\s*server accord-\d+:8787 .*$/gm) ?? []
  const listens = sample.match(/^\s*listen 80;$/gm) ?? []
  if (servers.length !== ports.length || listens.length !== 1)
    throw new Error('docs/deploy/nginx.conf no longer has three servers and one listen')
  let n = 0
  const http = sample
    .replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${listen};`)
    .replace(/server accord-\d+:8787/g, () => `server 127.0.0.1:${ports[n++]}`)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(prefix, 'temp', t)};`).join('\n')
  return `pid ${join(prefix, 'nginx.pid')};
error_log stderr warn;
worker_processes 1;
events { worker_connections 256; }
http {
  log_format upstreams '$request_method $uri $status $upstream_addr';
  access_log ${join(prefix, 'access.log')} upstreams;
${temp}
${http}
}
`
}

describe.skipIf(skipPg || skipPrivateRedis || skipNginx)('the cluster behind nginx (Chromium)', () => {
  const database = useMigratedDatabase()
  let root = ''
  const members: Member[] = []
  const contexts: BrowserContext[] = []
  let redis: PrivateRedis | undefined
  let nginx: ChildProcess | undefined
  let nginxLog = ''
  let browser: Browser
  let url = ''
  let alice: Api
  // What the tests below share, in order: the customer both people have open, and its owner.
  let id = ''
  let doc = ''
  let a: Page
  let b: Page
  let owner: Member | undefined

  /** Starts `node` on `port` from the copy in `root`, whose dist/ is the built client. */
  const start = (node: string, port: number, seed: 'demo' | 'none') =>
    spawnServer(
      database.url,
      port,
      {
        ACCORD_SEED: seed,
        ACCORD_REDIS_URL: redis!.url,
        ACCORD_NODE_ID: node,
        ACCORD_CLUSTER_LEASE_MS: String(LEASE_MS),
        ACCORD_TRUST_PROXY: 'on',
      },
      join(root, 'bin', 'accord.js'),
    )

  beforeAll(async () => {
    if (!NGINX) throw new Error('nginx is required here (CI=true) but is missing; install nginx-light or set ACCORD_TEST_NGINX')
    // The app as `npm run build` lays it out: the server's sources beside dist/, the client.
    root = tempDir('accord-cluster-e2e-')
    for (const dir of ['server', 'shared', 'bin']) cpSync(join(REPO, dir), join(root, dir), { recursive: true })
    for (const file of ['package.json', 'tsconfig.json']) cpSync(join(REPO, file), join(root, file))
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'))
    renameSync(await buildClient(), join(root, 'dist'))
    redis = await startPrivateRedis()
    const ports = [await freePort(), await freePort(), await freePort()]
    // The first member seeds the demo workspace before it listens; the others find it.
    for (const [i, port] of ports.entries()) {
      const node = `m${i + 1}`
      members.push({ node, port, child: await start(node, port, i === 0 ? 'demo' : 'none') })
    }
    const prefix = join(root, 'nginx')
    for (const dir of ['temp', 'logs']) mkdirSync(join(prefix, dir), { recursive: true })
    // Run as root, nginx's workers are `nobody`: they must reach the temp paths.
    for (const dir of [root, prefix, join(prefix, 'temp')]) chmodSync(dir, 0o777)
    const listen = await freePort()
    writeFileSync(join(prefix, 'nginx.conf'), nginxConfig(prefix, listen, ports))
    nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    nginx.stderr!.on('data', (chunk: Buffer) => (nginxLog += chunk.toString()))
    url = `http://127.0.0.1:${listen}`
    await until(async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok === true, `nginx on ${url}: ${nginxLog}`)
    alice = await login(url, 'alice@demo.test', DEMO_PASSWORD)
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS })
  }, 240_000)

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined)
    await browser?.close()
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx!.once('exit', resolve))
      nginx.kill('SIGQUIT')
      await exited
    }
    for (const m of members) await killHard(m.child)
    await redis?.kill()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  /** A person signing in through nginx's sign-in page, landing on `path`. */
  async function signIn(email: string, path: string): Promise<Page> {
    const context = await browser.newContext({ baseURL: url, viewport: { width: 1440, height: 900 } })
    context.setDefaultTimeout(UI_TIMEOUT_MS)
    contexts.push(context)
    const page = await context.newPage()
    await page.goto(path)
    await page.locator('[name=email]').fill(email)
    await page.locator('[name=password]').fill(DEMO_PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.topbar').waitFor()
    return page
  }

  const notes = (page: Page) => page.locator('[data-testid=notes-editor] .ql-editor')
  const notesText = async (page: Page) => (await notes(page).textContent()) ?? ''

  /** nginx's log so far (sockets are logged once closed): method, path, status, upstream(s). */
  const proxied = () =>
    readFileSync(join(root, 'nginx', 'access.log'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [method, path, status, ...upstreams] = line.split(' ')
        return { method, path, status, upstream: upstreams.join(' ') }
      })

  /** The member owning `doc` now, by its node label. */
  async function ownerOf(doc: string): Promise<Member | undefined> {
    const { rows } = await database.pool.query(
      'SELECT m.node FROM doc_owners o JOIN cluster_members m ON m.id = o.owner WHERE o.doc = $1 AND m.lease_until > $2',
      [doc, Date.now()],
    )
    return members.find((m) => m.node === rows[0]?.node)
  }

  /**
   * Types `text` into the notes on `page`: Alice at their start, Bob at their end, so that
   * what they type at once is never interleaved (two carets at one place would be).
   */
  async function typeIn(page: Page, text: string): Promise<void> {
    await notes(page).click()
    await page.keyboard.press(page === a ? 'Control+Home' : 'Control+End')
    await page.keyboard.type(text, { delay: 5 })
  }

  /** Every text is on both pages' notes and in the record PostgreSQL holds, each exactly once. */
  async function everywhere(pages: readonly Page[], id: string, texts: readonly string[]): Promise<string> {
    for (const page of pages) {
      await until(
        async () => {
          const shown = await notesText(page)
          return texts.every((t) => shown.split(t).length === 2)
        },
        `the notes on screen hold ${texts.join(', ')}`,
        40_000,
      )
    }
    let stored = ''
    await until(
      async () => {
        const res = await alice.request('GET', `/api/records/customers/${id}`)
        stored = res.status === 200 ? String(res.body.notes) : ''
        return texts.every((t) => stored.split(t).length === 2)
      },
      'the notes over REST',
      40_000,
    )
    return stored
  }

  it('[LB1] Alice and Bob sign in through nginx and co-edit a customer; tasks added and an export downloaded, whichever member serves them', async () => {
    id = await recordId(alice, 'customers', 'Globex')
    doc = `${DEMO_WORKSPACE}/customers/${id}`
    a = await signIn('alice@demo.test', `/customers/${id}`)
    b = await signIn('bob@demo.test', `/customers/${id}`)
    for (const page of [a, b]) await notes(page).waitFor()

    // Both type in the notes (around a first line, so at two places) and in fields: the same
    // text everywhere.
    await typeIn(a, 'Globex, cluster notes.')
    await everywhere([a, b], id, ['Globex, cluster notes.'])
    await Promise.all([typeIn(a, '[alice-1] '), typeIn(b, ' [bob-1]')])
    await Promise.all([a.locator('[name=phone]').fill('+1 555 0199'), b.locator('[name=company]').fill('Globex Cluster')])
    await a.waitForFunction(() => (document.querySelector('[name=company]') as HTMLInputElement).value === 'Globex Cluster')
    await b.waitForFunction(() => (document.querySelector('[name=phone]') as HTMLInputElement).value === '+1 555 0199')
    await everywhere([a, b], id, ['[alice-1]', '[bob-1]'])
    expect((await alice.request('GET', `/api/records/customers/${id}`)).body).toMatchObject({
      phone: '+1 555 0199',
      company: 'Globex Cluster',
    })
    // nginx hashed both sockets of the customer to one member, which owns it.
    owner = await ownerOf(doc)
    expect(owner).toBeDefined()

    // REST-backed: a task added in the form (spread over the members) shows on both pages.
    for (const title of ['Call Globex back', 'Send Globex the quote']) {
      const tasks = a.getByTestId('record-tasks')
      await tasks.locator('[name=task-title]').fill(title)
      await tasks.getByRole('button', { name: 'Add task' }).click()
      await b.getByTestId('record-tasks').getByRole('link', { name: title }).waitFor()
    }
    const tasks = (await alice.request('GET', '/api/records/tasks?limit=100')).body.items as { title: string; about: string }[]
    expect(tasks.filter((t) => t.about === `customers/${id}`).map((t) => t.title)).toEqual(
      expect.arrayContaining(['Call Globex back', 'Send Globex the quote']),
    )

    // An export, run by some member, downloaded through nginx from any.
    const exports = await a.context().newPage()
    await exports.goto('/exports')
    await exports.getByRole('button', { name: /Export to CSV/ }).click()
    const row = exports.locator('tr[data-job-id][data-status=succeeded]').first()
    await row.waitFor({ timeout: 40_000 })
    const [download] = await Promise.all([exports.waitForEvent('download'), row.getByRole('link', { name: 'Download' }).click()])
    const zip = await JSZip.loadAsync(readFileSync((await download.path())!))
    expect(await zip.file('customers.csv')!.async('string')).toContain('Globex Cluster')
    await exports.close()
  }, 180_000)

  const afterStop = ['[alice-1]', '[bob-1]', '[alice-2 during the stop]', '[bob-2 during the stop]', '[alice-3 after]', '[bob-3 after]']

  it('[LB2] the owner stopped with SIGTERM while both type: the pages reconnect through nginx, nothing typed is lost', async () => {
    // Rolling restart: the owner is stopped with SIGTERM while both type; the pages reconnect
    // through nginx to another member, which takes the customer over.
    if (!owner) throw new Error('no owner of the customer (see LB1)')
    const stopping = owner
    const exited = new Promise((resolve) => stopping.child.child.once('exit', resolve))
    const typed = Promise.all([typeIn(a, '[alice-2 during the stop] '), typeIn(b, ' [bob-2 during the stop]')])
    stopping.child.child.kill('SIGTERM')
    expect(await exited).toBe(0)
    await typed
    await Promise.all([typeIn(a, '[alice-3 after] '), typeIn(b, ' [bob-3 after]')])
    await everywhere([a, b], id, afterStop)
    // nginx had sent every socket of the customer to its owner (the sockets closed by the stop).
    const sockets = proxied().filter((r) => r.path === `/sync/${doc}` && r.status === '101')
    expect(sockets.length).toBeGreaterThanOrEqual(2)
    expect(new Set(sockets.map((r) => r.upstream))).toEqual(new Set([`127.0.0.1:${stopping.port}`]))
    // and spread the other requests over all three members.
    const spread = proxied().filter((r) => r.path?.startsWith('/api/') && r.status === '200')
    expect(new Set(spread.map((r) => r.upstream))).toEqual(new Set(members.map((m) => `127.0.0.1:${m.port}`)))
    const second = await ownerOf(doc)
    expect(second).toBeDefined()
    expect(second).not.toBe(stopping)
    // It comes back on its port (nginx sends it requests again).
    stopping.child = await start(stopping.node, stopping.port, 'none')
  }, 180_000)

  it('[LB3] the owner killed with SIGKILL: after the lease editing works again, nothing saved is lost', async () => {
    // A kill: what the pages had saved before it survives, and editing works after the lease.
    await Promise.all([typeIn(a, '[alice-4 saved] '), typeIn(b, ' [bob-4 saved]')])
    await everywhere([a, b], id, [...afterStop, '[alice-4 saved]', '[bob-4 saved]'])
    for (const page of [a, b]) await page.locator('[data-status=saved]').waitFor()
    const killed = await ownerOf(doc)
    expect(killed).toBeDefined()
    await killHard(killed!.child)
    await Promise.all([typeIn(a, '[alice-5 after the kill] '), typeIn(b, ' [bob-5 after the kill]')])
    const all = [...afterStop, '[alice-4 saved]', '[bob-4 saved]', '[alice-5 after the kill]', '[bob-5 after the kill]']
    const stored = await everywhere([a, b], id, all)
    for (const page of [a, b]) await page.locator('[data-status=saved]').waitFor({ timeout: 40_000 })
    expect(await notesText(a)).toBe(await notesText(b))
    // The PostgreSQL log replays to what REST reads.
    const replay = new Y.Doc()
    for (const update of (await new PgDocStore(database.pool).load(doc)).updates) Y.applyUpdate(replay, update)
    expect(notesOf(replay).toString()).toBe(stored)
    const third = await ownerOf(doc)
    expect(third).toBeDefined()
    expect(third).not.toBe(killed)
    // REST writes too, with one member down: nginx passes them to the others.
    const tasks = a.getByTestId('record-tasks')
    await tasks.locator('[name=task-title]').fill('Confirm after the outage')
    await tasks.getByRole('button', { name: 'Add task' }).click()
    await b.getByTestId('record-tasks').getByRole('link', { name: 'Confirm after the outage' }).waitFor()
    expect(nginxLog).not.toMatch(/\[emerg\]/)
  }, 180_000)
})
