/**
 * The admin console in real headless Chromium against the real server: an owner sees the
 * figures and charts change live when someone connects, adds a user and changes their role from the
 * table; a member gets the "not allowed" page (and no Admin link).
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { login, provider, synced } from '../helpers/server.js'
import { type E2E, SCREENSHOTS, startE2E } from './browser.js'

let e2e: E2E

beforeAll(async () => {
  // A point a second, so that the charts move within the test.
  e2e = await startE2E({ overviewSampleMs: 1000 })
})

afterAll(async () => {
  await e2e?.close()
})

describe('admin console (Chromium)', () => {
  it('an owner sees the figures change live, adds a user and changes their role', async () => {
    const { context, page } = await e2e.signedIn('alice@demo.test', '/admin')
    const connections = page.getByTestId('stat-connections').locator('dd')
    await connections.waitFor()
    const before = Number(await connections.textContent())
    const chart = page.getByTestId('chart-connections')
    await chart.locator('canvas').waitFor()
    const points = async () => Number(await chart.getAttribute('data-points'))
    await expect.poll(points, { timeout: 15_000 }).toBeGreaterThan(0)
    const pointsBefore = await points()
    // Someone else opens a record: the console shows one more connection without a reload.
    const bob = await login(e2e.server.url, 'bob@demo.test', DEMO_PASSWORD)
    const deal = (await bob.request('GET', '/api/records/deals?limit=1')).body.items[0].id as string
    const socket = provider(e2e.server.wsUrl, `demo/deals/${deal}`, bob.token)
    await synced(socket)
    await expect.poll(async () => Number(await connections.textContent()), { timeout: 15_000 }).toBeGreaterThan(before)
    await expect.poll(async () => page.getByRole('table', { name: 'Busiest documents' }).textContent()).toContain('Bob Baker')
    // The chart's newest point has the new connection, and the series has grown.
    await expect.poll(async () => Number(await chart.getAttribute('data-last')), { timeout: 15_000 }).toBeGreaterThan(before)
    expect(await points()).toBeGreaterThan(pointsBefore)
    expect(await page.locator('.chart-grid canvas').count()).toBe(7)

    await page.getByLabel('E-mail', { exact: true }).fill('dana@demo.test')
    await page.getByLabel('Name', { exact: true }).fill('Dana Dunn')
    await page.getByLabel('Initial password').fill('a fine password')
    await page.getByRole('button', { name: 'Add user' }).click()
    const row = page.getByTestId('user-dana@demo.test')
    await row.waitFor()
    await row.getByLabel('Role of Dana Dunn').selectOption('viewer')
    await expect.poll(async () => (await bob.request('GET', '/api/admin/users')).status).toBe(403)
    await expect
      .poll(
        async () =>
          (await login(e2e.server.url, 'dana@demo.test', 'a fine password').then((api) => api.request('GET', '/api/me'))).body.role,
      )
      .toBe('viewer')
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-console.png'), fullPage: true })
    // On a phone the charts shrink to the screen instead of overflowing it.
    await page.setViewportSize({ width: 400, height: 800 })
    await expect.poll(async () => (await chart.locator('canvas').boundingBox())?.width ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(400)
    await page.getByRole('heading', { name: /Last hour/ }).scrollIntoViewIfNeeded()
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-console-narrow.png') })
    socket.destroy()
    await context.close()
  })

  it('an owner cancels a queued job and retries it from the job queue table', async () => {
    const bob = await login(e2e.server.url, 'bob@demo.test', DEMO_PASSWORD)
    const queue = e2e.server.server.jobs.queue
    // Held by "another process", so that the next one of Bob's waits in the queue.
    const job = (target: string) => ({
      workspace: 'demo',
      userId: bob.userId,
      kind: 'export' as const,
      target,
      params: { collections: ['deals'] },
      counts: { exported: 0 },
      coalesceKey: null,
    })
    const held = (await queue.enqueue(job('xlsx'))).job
    await queue.claim('elsewhere', 1, 60_000)
    const waiting = (await queue.enqueue(job('xlsx'))).job
    const { context, page } = await e2e.signedIn('alice@demo.test', '/admin')
    const row = page.getByTestId(`job-${waiting.id}`)
    await expect.poll(async () => row.textContent(), { timeout: 15_000 }).toContain('Queued')
    expect(await row.textContent()).toContain('Bob Baker')
    await row.getByRole('button', { name: 'Cancel' }).click()
    await expect.poll(async () => row.textContent()).toContain('cancelled by Alice Archer')
    await page.getByTestId(`job-${held.id}`).getByRole('button', { name: 'Cancel' }).click()
    await expect.poll(async () => (await queue.get(held.id))?.status).toBe('failed')
    await row.getByRole('button', { name: 'Retry' }).click()
    await expect.poll(async () => (await queue.get(waiting.id))?.status, { timeout: 15_000 }).toBe('succeeded')
    await expect.poll(async () => row.getByRole('button', { name: 'Re-run' }).count(), { timeout: 15_000 }).toBe(1)
    await page.getByRole('region', { name: 'Job queue' }).screenshot({ path: join(SCREENSHOTS, 'admin-job-queue.png') })
    await context.close()
  })

  it('an owner invites from People; the link signs the new user in once, then says it was used', async () => {
    const { context, page } = await e2e.signedIn('alice@demo.test', '/admin')
    const invite = page.getByRole('form', { name: 'Invite a user' })
    await invite.getByLabel('Role of the invited user').selectOption('viewer')
    await invite.getByRole('button', { name: 'Invite' }).click()
    const link = await page.getByTestId('invite-link').inputValue()
    expect(link).toMatch(new RegExp(`^${e2e.server.url}/invite/[A-Za-z0-9_-]{43}$`))
    await page.getByRole('form', { name: 'Invite a user' }).screenshot({ path: join(SCREENSHOTS, 'admin-invite.png') })

    const guest = await e2e.browser.newContext({ baseURL: e2e.server.url, viewport: { width: 1280, height: 800 } })
    try {
      const invited = await guest.newPage()
      await invited.goto(link)
      await invited.getByRole('heading', { name: /^Join / }).waitFor()
      expect(await invited.locator('form').textContent()).toContain('invited as viewer')
      await invited.getByLabel('E-mail').fill('ivy@demo.test')
      await invited.getByLabel('Name').fill('Ivy Invited')
      await invited.getByLabel('Password').fill('a fine password')
      await invited.screenshot({ path: join(SCREENSHOTS, 'invite-accept.png') })
      await invited.getByRole('button', { name: /^Join / }).click()
      await invited.locator('.topbar-name', { hasText: 'Ivy Invited' }).waitFor()
      expect(new URL(invited.url()).pathname).toBe('/')
      const ivy = await login(e2e.server.url, 'ivy@demo.test', 'a fine password')
      expect((await ivy.request('GET', '/api/me')).body.role).toBe('viewer')

      const again = await e2e.browser.newContext({ baseURL: e2e.server.url })
      const second = await again.newPage()
      await second.goto(link)
      await second.getByTestId('invite-unusable').filter({ hasText: 'used already or has expired' }).waitFor()
      expect(await second.getByRole('button', { name: /^Join / }).count()).toBe(0)
      await again.close()
    } finally {
      await guest.close()
    }
    await context.close()
  })

  it('a member gets the "not allowed" page and no Admin link', async () => {
    const { context, page } = await e2e.signedIn('bob@demo.test', '/admin')
    await page.getByTestId('not-allowed').waitFor()
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0)
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-not-allowed.png') })
    await context.close()
  })
})
