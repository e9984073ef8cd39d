/**
 * The Import screen in real headless Chromium against the real server: a CSV with a stray
 * quote on one line and an invalid e-mail on another is previewed with its columns matched by
 * header (one remapped by hand, one ignored), imported, and the result lists both lines'
 * errors while every other row becomes a record.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { type Api, login } from '../helpers/server.js'
import { type E2E, SCREENSHOTS, startE2E } from './browser.js'

let e2e: E2E
let alice: Api

beforeAll(async () => {
  e2e = await startE2E({ jobs: { pollMs: 100 } })
  alice = await login(e2e.server.url, 'alice@demo.test', DEMO_PASSWORD)
})

afterAll(async () => {
  await e2e?.close()
})

const CSV = [
  'Name,E-mail,Organisation,Shoe size',
  'Ada Import,ada.import@example.test,Analytical Ltd,38',
  'Bad "Quote,bad.quote@example.test,Nowhere,40',
  'Carl Import,not-an-email,Somewhere,42',
  'Dora Import,dora.import@example.test,Dora GmbH,39',
].join('\n')

describe('Import screen (Chromium)', () => {
  it('a CSV with a malformed line and an invalid e-mail imports the rest and lists both errors', async () => {
    const { page } = await e2e.signedIn('alice@demo.test', '/exports')
    await page.getByRole('link', { name: 'Import CSV' }).click()
    await page.locator('#import-title').waitFor()
    await page.getByLabel('Collection').selectOption('leads')
    await page.locator('input[type=file]').setInputFiles({ name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) })
    const preview = page.getByRole('table', { name: 'Preview' })
    await preview.waitFor()
    expect(await preview.locator('tbody tr').count()).toBe(4)
    // Matched by header; "Organisation" is not a field of leads until mapped, "Shoe size" stays ignored.
    expect(await page.getByLabel('Field for column Name').inputValue()).toBe('name')
    expect(await page.getByLabel('Field for column E-mail').inputValue()).toBe('email')
    expect(await page.getByLabel('Field for column Shoe size').inputValue()).toBe('')
    await page.getByLabel('Field for column Organisation').selectOption('company')
    await page.getByRole('button', { name: 'Import', exact: true }).click()

    const result = page.getByTestId('import-result')
    await result.and(page.locator('[data-status="succeeded"]')).waitFor()
    await expect.poll(() => result.textContent()).toContain('2 imported, 0 skipped, 0 merged, 2 invalid')
    const problems = page.getByRole('list', { name: 'Problems' }).locator('li')
    expect(await problems.allTextContents()).toEqual([
      expect.stringMatching(/^Line 3: not valid CSV: .*quote/i),
      expect.stringMatching(/^Line 4: email/),
    ])
    await page.screenshot({ path: join(SCREENSHOTS, 'import-result.png') })

    const download = page.waitForEvent('download')
    await page.getByRole('link', { name: 'Download problems as CSV' }).click()
    const file = readFileSync((await (await download).path())!, 'utf8')
    expect(file).toMatch(/^line,message\r\n3,"not valid CSV: [^\r]*"\r\n4,"email[^\r]*"\r\n$/)

    const { body } = await alice.request('GET', '/api/records/leads?q=Import&limit=100')
    expect(body.items.map((r: { name: string }) => r.name).sort()).toEqual(['Ada Import', 'Dora Import'])
    expect(body.items.find((r: { name: string }) => r.name === 'Ada Import')).toMatchObject({ company: 'Analytical Ltd' })
  })
})
