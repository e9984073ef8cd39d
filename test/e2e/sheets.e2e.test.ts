/**
 * Google Sheets from the app, in real headless Chromium against the real server and the Sheets
 * emulator (the official client over HTTP): a user pastes the spreadsheet's address, sees its
 * title, syncs, changes a record and syncs again, and the second sync reports `updated: 1`.
 * A server without Sheets offers no Sync button and says what an admin must set.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { type Api, login } from '../helpers/server.js'
import { finished } from '../helpers/jobs.js'
import { SheetsEmulator } from '../sheets-emulator/SheetsEmulator.js'
import { type E2E, SCREENSHOTS, recordId, startE2E, startE2EWithSheets } from './browser.js'

let e2e: E2E
let bare: E2E
let emulator: SheetsEmulator
let bob: Api

beforeAll(async () => {
  emulator = new SheetsEmulator()
  e2e = await startE2EWithSheets(emulator, 3)
  bare = await startE2E({ jobs: { pollMs: 100 } })
  bob = await login(e2e.server.url, 'bob@demo.test', DEMO_PASSWORD)
})

afterAll(async () => {
  await e2e?.close()
  await bare?.close()
  await emulator?.close()
})

describe('Google Sheets from the app (Chromium)', () => {
  it('save the spreadsheet, sync, change a record, sync again: updated 1', async () => {
    emulator.createSpreadsheet('e2e-bob', 'Bob’s pipeline')
    const { page } = await e2e.signedIn('bob@demo.test', '/exports')
    const panel = page.getByTestId('sheets-panel')
    const mine = panel.getByRole('region', { name: 'Your spreadsheet' })
    await mine.getByLabel('Spreadsheet address or id').fill('https://docs.google.com/spreadsheets/d/e2e-bob/edit#gid=0')
    await mine.getByRole('button', { name: 'Check and save' }).click()
    await mine.getByTestId('sheet-title').filter({ hasText: 'Bob’s pipeline' }).waitFor()

    // Only customers, so the counts are the customers'.
    for (const box of await page.locator('.export-collections input[type=checkbox]').all()) await box.uncheck()
    await page.getByRole('checkbox', { name: 'Customers' }).check()
    await mine.getByRole('button', { name: 'Sync to Google Sheets' }).click()
    const first = page.getByRole('table', { name: 'Export jobs' }).locator('tr[data-status=succeeded]')
    await first.waitFor()
    const jobs = async () => (await bob.request('GET', '/api/exports')).body.items as { id: string; counts: Record<string, number> }[]
    const [firstJob] = await jobs()
    const done = await finished(bob, `/api/exports/${firstJob!.id}`)
    expect(done.counts.added).toBeGreaterThan(0)
    expect(done.counts.added).toBe(done.counts.exported)
    expect(emulator.tabTitles('e2e-bob')).toContain('customers (Bob Baker)')

    const id = await recordId(bob, 'customers', 'Acme Corp')
    expect((await bob.request('PATCH', `/api/records/customers/${id}`, { phone: '+1 555 0199' })).status).toBe(200)
    await mine.getByRole('button', { name: 'Sync to Google Sheets' }).click()
    await expect.poll(async () => (await jobs()).length).toBe(2)
    const [second] = await jobs()
    expect((await finished(bob, `/api/exports/${second!.id}`)).counts).toMatchObject({ added: 0, updated: 1, deleted: 0 })
    await page.locator(`tr[data-job-id="${second!.id}"][data-status=succeeded]`).waitFor()
    const updated = await page.locator(`tr[data-job-id="${second!.id}"] td.num`).allInnerTexts()
    expect(updated.slice(1)).toEqual(['0', '1', '0'])
    await page.screenshot({ path: join(SCREENSHOTS, 'exports-sheets.png'), fullPage: true })
  })

  it('without Sheets on the server there is no Sync button, and the screen says what an admin must set', async () => {
    const { page } = await bare.signedIn('bob@demo.test', '/exports')
    const panel = page.getByTestId('sheets-panel')
    await panel.getByText(/An admin must set ACCORD_SHEETS_CREDENTIALS/).waitFor()
    expect(await page.getByRole('button', { name: /Google Sheets/ }).count()).toBe(0)
  })
})
