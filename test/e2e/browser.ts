/**
 * End-to-end harness: builds the client once, starts the real server on port 0 with
 * a temporary SQLite file and the demo workspace, and drives real headless Chromium.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { build } from 'vite'
import { DEMO_PASSWORD, seedDemo } from '../../server/seed/demo.js'
import type { SheetsEmulator } from '../sheets-emulator/SheetsEmulator.js'
import { type Api, login, startServer, tempDir, type TestServer, type TestServerOptions } from '../helpers/server.js'

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]
/** Hang guard for one UI expectation (not a speed requirement). */
export const UI_TIMEOUT_MS = 15_000
const REPO = join(import.meta.dirname, '..', '..')
/**
 * Where the tests save their screenshots: the ignored `test-output/screenshots`, so a
 * test run never rewrites tracked files; `ACCORD_SCREENSHOTS` (relative to the
 * repository) points them elsewhere, as `npm run screenshots` does for `docs/screenshots`.
 */
export const SCREENSHOTS = resolve(REPO, process.env.ACCORD_SCREENSHOTS || join('test-output', 'screenshots'))

export interface E2E {
  server: TestServer
  browser: Browser
  /** A new browser context (one "person") signed in as `email`; `pages` tabs open at `path`. */
  signedIn(email: string, path: string): Promise<{ context: BrowserContext; page: Page }>
  close(): Promise<void>
}

/** Builds the client into a temporary folder with the project's Vite config. */
export async function buildClient(): Promise<string> {
  const outDir = tempDir('accord-client-')
  // Vitest sets NODE_ENV=test; the app under test must be the production build users get.
  const nodeEnv = process.env.NODE_ENV
  process.env.NODE_ENV = 'production'
  try {
    await build({ configFile: join(REPO, 'vite.config.ts'), mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true } })
  } finally {
    process.env.NODE_ENV = nodeEnv
  }
  return outDir
}

/** `options`: more options of the server (Google Sheets through the emulator, say). */
export async function startE2E(options: TestServerOptions = {}): Promise<E2E> {
  const clientDir = await buildClient()
  const server = await startServer({ ...options, clientDir })
  await seedDemo(server.server)
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS })
  mkdirSync(SCREENSHOTS, { recursive: true })
  const contexts: BrowserContext[] = []
  return {
    server,
    browser,
    async signedIn(email, path) {
      const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1440, height: 900 } })
      context.setDefaultTimeout(UI_TIMEOUT_MS)
      contexts.push(context)
      const res = await context.request.post('/api/auth/login', { data: { email, password: DEMO_PASSWORD } })
      if (res.status() !== 200) throw new Error(`login ${email} failed: ${res.status()}`)
      const page = await context.newPage()
      await page.goto(path)
      await page.locator('.topbar').waitFor()
      return { context, page }
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => undefined)
      await browser.close()
      await server.close()
      rmSync(clientDir, { recursive: true, force: true })
    },
  }
}

/** An app whose Google Sheets go to `emulator` (started here), writes unthrottled, retries quick. */
export async function startE2EWithSheets(emulator: SheetsEmulator, maxAttempts: number): Promise<E2E> {
  await emulator.start()
  return startE2E({
    jobs: {
      pollMs: 100,
      sheets: {
        credentials: emulator.serviceAccount(),
        apiRoot: emulator.apiRoot,
        writesPerMinute: 60_000,
        retry: { maxAttempts, baseDelayMs: 5 },
      },
    },
  })
}

/** The id of the demo record named `title` in `collection`, through the REST API. */
export async function recordId(api: Api, collection: string, title: string): Promise<string> {
  const { body } = await api.request('GET', `/api/records/${collection}?limit=100`)
  const row = (body.items as { id: string; name?: string; title?: string }[]).find((r) => (r.title ?? r.name) === title)
  if (!row) throw new Error(`no ${collection} "${title}"`)
  return row.id
}

/**
 * For a test file: the demo app started before its tests (and closed after), with Alice's
 * REST client; read `e2e` and `alice` inside the tests.
 */
export function demoApp(options: TestServerOptions = {}): { readonly e2e: E2E; readonly alice: Api } {
  const app = {} as { e2e: E2E; alice: Api }
  beforeAll(async () => {
    app.e2e = await startE2E(options)
    app.alice = await login(app.e2e.server.url, 'alice@demo.test', DEMO_PASSWORD)
  })
  afterAll(async () => {
    await app.e2e?.close()
  })
  return app
}
