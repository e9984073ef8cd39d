/**
 * Jobs in the app, in real headless Chromium against the real server and the Sheets
 * emulator: a Sheets export that Google's quota holds up says so live ("Waiting for Google's
 * quota — retrying in 4 s (attempt 2 of 6)"), counting down, then finishes; an import shows
 * under its own heading with its own counts and toast, and no Download button.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { type Api, login } from '../helpers/server.js'
import { finished, uploadCsv } from '../helpers/jobs.js'
import { SheetsEmulator } from '../sheets-emulator/SheetsEmulator.js'
import { type E2E, SCREENSHOTS, startE2EWithSheets } from './browser.js'

let e2e: E2E
let emulator: SheetsEmulator
let alice: Api

beforeAll(async () => {
  emulator = new SheetsEmulator()
  e2e = await startE2EWithSheets(emulator, 6)
  alice = await login(e2e.server.url, 'alice@demo.test', DEMO_PASSWORD)
})

afterAll(async () => {
  await e2e?.close()
  await emulator?.close()
})

describe('jobs in the app (Chromium)', () => {
  it('a viewer downloads file exports but is offered no Google Sheets sync, as the API allows', async () => {
    const { context, page } = await e2e.signedIn('vera@demo.test', '/exports')
    await page.locator('#exports-title').waitFor()
    await page.getByTestId('viewer-exports-note').waitFor()
    expect(await page.getByTestId('sheets-panel').count()).toBe(0)
    // Nor an import, which the API refuses a viewer: no link, and its address says so.
    expect(await page.getByRole('link', { name: 'Import CSV' }).count()).toBe(0)
    await page.getByRole('button', { name: /Export to CSV/ }).click()
    await page
      .locator('tr[data-job-id]', { hasText: /Download/ })
      .first()
      .waitFor()
    await page.goto('/import')
    await page.getByTestId('viewer-import-note').waitFor()
    expect(await page.locator('#import-file').count()).toBe(0)
    await context.close()
  })

  it("a Sheets export held up by Google's quota shows the retry live, counting down, then finishes", async () => {
    const { context, page } = await e2e.signedIn('alice@demo.test', '/exports')
    await page.locator('#exports-title').waitFor()
    emulator.createSpreadsheet('e2e-retry')
    // Two 429s, each asking for 4 s: attempts 2 and 3 wait for Google.
    emulator.fail(429, 2, 4)
    const res = await alice.request('POST', '/api/exports', { target: 'sheets', spreadsheetId: 'e2e-retry', collections: ['customers'] })
    expect(res.status).toBe(202)
    const row = page.locator(`tr[data-job-id="${res.body.id}"]`)
    const retry = row.getByTestId('job-retry')
    await retry.filter({ hasText: /^Waiting for Google's quota — retrying in [1-4] s \(attempt 2 of 6\)$/ }).waitFor()
    expect((await alice.request('GET', `/api/exports/${res.body.id}`)).body).toMatchObject({
      status: 'running',
      retry: { attempt: 2, of: 6, reason: 'quota' },
    })
    await expect.poll(() => row.getAttribute('data-status')).toBe('running')
    await page.screenshot({ path: join(SCREENSHOTS, 'exports-retry.png') })
    // The countdown moves without any new message from the server.
    const shown = await retry.textContent()
    await retry.filter({ hasNotText: shown ?? '' }).waitFor()
    await retry.filter({ hasText: '(attempt 3 of 6)' }).waitFor()
    await page.locator(`tr[data-job-id="${res.body.id}"][data-status=succeeded]`).waitFor()
    await expect.poll(() => retry.count()).toBe(0)
    await page.locator('.toast', { hasText: /^Google Sheets export finished — 3 records/ }).waitFor()
    await context.close()
  })

  it('an import shows under Imports with its counts and toast, and no Download button', async () => {
    const { context, page } = await e2e.signedIn('alice@demo.test', '/exports')
    await page.locator('#exports-title').waitFor()
    const csv = [
      'name,email',
      'Wayne Enterprises,bruce@wayne.test',
      'Stark,tony@stark.test',
      'Acme again,buyer@acme.test',
      'Broken,not-an-email',
    ].join('\n')
    const upload = await uploadCsv(e2e.server.url, alice, 'customers', csv)
    expect(upload.status).toBe(202)
    await page.locator('.toast', { hasText: 'Import finished — 2 imported, 1 skipped, 1 invalid' }).waitFor()
    const imports = page.getByRole('table', { name: 'Import jobs' })
    const row = imports.locator(`tr[data-job-id="${upload.body.id}"][data-status=succeeded]`)
    await row.waitFor()
    const cells = (await row.locator('td').allInnerTexts()).map((text) => text.replace(/\s+/g, ' ').trim())
    expect(cells).toEqual(['import.csv', 'Customers', 'Succeeded 1 problem', '2', '1', '0', '1', 'just now'])
    expect(await row.getByRole('link', { name: 'Download' }).count()).toBe(0)
    expect(await page.getByRole('table', { name: 'Export jobs' }).locator(`tr[data-job-id="${upload.body.id}"]`).count()).toBe(0)
    await row.getByText('1 problem').click()
    await row.getByText(/^Line 5: email: /).waitFor()
    expect(await page.locator('.toast', { hasText: 'CSV export failed' }).count()).toBe(0)
    // The Sheets export ended before this page opened: the page shows it, it does not toast it.
    expect(await page.locator('.toast', { hasText: 'Google Sheets export finished' }).count()).toBe(0)
    await page.screenshot({ path: join(SCREENSHOTS, 'exports-imports.png'), fullPage: true })
    const job = await finished(alice, `/api/imports/${upload.body.id}`)
    expect(job.counts).toMatchObject({ imported: 2, skipped: 1, invalid: 1 })
    await context.close()
  })
})
