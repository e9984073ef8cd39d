/**
 * Lists, the trash and the pipeline in real headless Chromium against the real server: the
 * columns people need, filters, counts and a saved view that survive a reload, a search that
 * finds words in the notes, bulk changes, delete → undo, delete → trash → restore, undo of a
 * board move, per-currency totals, and a list of 10,000 records drawn a screenful at a time.
 */
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { serverOrigin } from '../../server/sync/types.js'
import { indexEntriesOf } from '../../shared/docLayout.js'
import { type Api, login, until } from '../helpers/server.js'
import { type E2E, recordId, SCREENSHOTS, startE2E } from './browser.js'

/** The app (server, demo workspace, Chromium) and Alice's API, shared by the tests below. */
const app = {} as { e2e: E2E; alice: Api }

beforeAll(async () => {
  const e2e = await startE2E()
  Object.assign(app, { e2e, alice: await login(e2e.server.url, 'alice@demo.test', DEMO_PASSWORD) })
})

afterAll(() => app.e2e?.close())

async function create(collection: string, fields: Record<string, unknown>): Promise<string> {
  const res = await app.alice.request('POST', `/api/records/${collection}`, fields)
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.id as string
}

const row = (page: Page, id: string) => page.locator(`tr[data-record-id="${id}"]`)
const count = (page: Page) => page.locator('[data-testid=list-count]')
const userId = async (name: string) =>
  ((await app.alice.request('GET', '/api/users')).body.items as { id: string; name: string }[]).find((u) => u.name === name)!.id

/** `amount` in `currency` as this browser words it (the app's own format). */
const money = (page: Page, amount: number, currency: string) =>
  page.evaluate(
    ([a, c]) =>
      new Intl.NumberFormat(undefined, { style: 'currency', currency: c as string, maximumFractionDigits: 0 }).format(a as number),
    [amount, currency] as const,
  )

describe('lists, trash and pipeline (Chromium)', () => {
  it('a deal reads with its customer, owner, stage and amount in its currency; an invoice with its number, customer and total', async () => {
    const acme = await recordId(app.alice, 'customers', 'Acme Corp')
    const deal = await create('deals', {
      title: 'Zeta dollars',
      customerId: acme,
      ownerId: await userId('Bob Baker'),
      stage: 'qualified',
      amount: 1234,
      currency: 'USD',
    })
    const invoice = (await app.alice.request('GET', '/api/records/invoices')).body.items[0].id as string
    expect((await app.alice.request('PATCH', `/api/records/invoices/${invoice}`, { status: 'sent' })).status).toBe(200)
    await until(
      async () => (await app.alice.request('GET', `/api/records/invoices/${invoice}`)).body.number !== undefined,
      'invoice numbered',
    )
    const { number } = (await app.alice.request('GET', `/api/records/invoices/${invoice}`)).body
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/deals')
    try {
      const cells = row(page, deal).locator('td')
      await row(page, deal).waitFor()
      const texts = await cells.allInnerTexts()
      expect(texts).toEqual(expect.arrayContaining(['Zeta dollars', 'Acme Corp', 'Bob Baker', 'Qualified', await money(page, 1234, 'USD')]))
      await page.goto('/invoices')
      await row(page, invoice)
        .locator('td', { hasText: String(number) })
        .waitFor()
      const invoiceTexts = await row(page, invoice).locator('td').allInnerTexts()
      // Two training days at 1,800, in the currency of the deal it bills (EUR).
      expect(invoiceTexts).toEqual(expect.arrayContaining([String(number), 'Acme Corp', await money(page, 3600, 'EUR'), 'Sent']))
    } finally {
      await context.close()
    }
  })

  it('filters by stage and amount with a count of what they keep; a saved view survives a reload and follows its person to a new browser', async () => {
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/deals')
    const total = ((await app.alice.request('GET', '/api/records/deals?limit=500')).body.items as unknown[]).length
    const training = await recordId(app.alice, 'deals', 'Acme training')
    try {
      await expect.poll(() => count(page).innerText()).toBe(`${total} deals`)
      await page.selectOption('select[aria-label="Add a filter"]', 'stage')
      const stage = page.locator('fieldset[data-filter=stage]')
      await stage.getByLabel('Won').check()
      await stage.getByLabel('Negotiation').check()
      await expect.poll(() => count(page).innerText()).toBe(`2 of ${total} deals`)
      await page.selectOption('select[aria-label="Add a filter"]', 'amount')
      await page.getByLabel('Amount from').fill('22000')
      await expect.poll(() => count(page).innerText()).toBe(`1 of ${total} deals`)
      await row(page, training).waitFor()
      await page.getByRole('button', { name: 'Save view' }).click()
      await page.getByLabel('View name').fill('Big late deals')
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.locator('.toast', { hasText: 'View “Big late deals” saved' }).waitFor()
      await page.screenshot({ path: join(SCREENSHOTS, 'list-filters.png') })

      await page.reload()
      await expect.poll(() => count(page).innerText()).toBe(`1 of ${total} deals`)
      // The saved views arrive from the server a moment after the list.
      await expect.poll(() => page.locator('select[aria-label="Saved view"] option:checked').innerText()).toBe('Big late deals')
      expect(await page.getByLabel('Amount from').inputValue()).toBe('22000')

      // Another browser: nothing kept locally, the view comes from the server.
      const other = await app.e2e.signedIn('alice@demo.test', '/deals')
      try {
        await expect.poll(() => count(other.page).innerText()).toBe(`${total} deals`)
        await other.page.selectOption('select[aria-label="Saved view"]', { label: 'Big late deals' })
        await expect.poll(() => count(other.page).innerText()).toBe(`1 of ${total} deals`)
      } finally {
        await other.context.close()
      }
      const views = (await app.alice.request('GET', '/api/views?collection=deals')).body.items
      expect(views).toMatchObject([
        {
          name: 'Big late deals',
          filters: [
            { kind: 'in', column: 'stage' },
            { kind: 'range', column: 'amount', min: 22000 },
          ],
        },
      ])
      // Bob has views of his own: none.
      expect((await (await login(app.e2e.server.url, 'bob@demo.test', DEMO_PASSWORD)).request('GET', '/api/views')).body.items).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('the search finds a deal by a word only its notes hold, as the API does', async () => {
    const id = await create('deals', { title: 'Quiet deal', notes: 'the customer mentioned marzipan twice' })
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/deals')
    try {
      await row(page, id).waitFor()
      await page.getByLabel('Search deals').fill('marzipan')
      await expect.poll(() => count(page).innerText()).toMatch(/^1 of \d+ deals$/)
      await row(page, id).waitFor()
    } finally {
      await context.close()
    }
  })

  it('bulk: two selected deals change owner and stage; deleting them offers Undo, which brings them back; deleted again, one is restored from the trash', async () => {
    const ids = [await create('deals', { title: 'Bulky one', stage: 'lead' }), await create('deals', { title: 'Bulky two', stage: 'lead' })]
    const carol = await userId('Carol Chen')
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/deals')
    const stored = (id: string) => app.alice.request('GET', `/api/records/deals/${id}`)
    try {
      await page.getByLabel('Search deals').fill('Bulky')
      await expect.poll(() => count(page).innerText()).toMatch(/^2 of \d+ deals$/)
      await page.getByLabel(/^Select all 2 deals shown$/).check()
      await page.selectOption('select[aria-label="Change owner"]', { label: 'Carol Chen' })
      await until(async () => (await Promise.all(ids.map(stored))).every((r) => r.body.ownerId === carol), 'owner changed')
      await page.selectOption('select[aria-label="Change stage"]', 'proposal')
      await until(async () => (await Promise.all(ids.map(stored))).every((r) => r.body.stage === 'proposal'), 'stage changed')
      await expect.poll(() => row(page, ids[0]!).locator('td').allInnerTexts()).toEqual(expect.arrayContaining(['Carol Chen', 'Proposal']))
      await page.screenshot({ path: join(SCREENSHOTS, 'list-bulk.png') })

      await page.getByRole('button', { name: 'Delete', exact: true }).click()
      await expect.poll(() => count(page).innerText()).toMatch(/^0 of \d+ deals$/)
      await page.locator('.toast', { hasText: '2 deals moved to the trash' }).getByRole('button', { name: 'Undo' }).click()
      await expect.poll(() => count(page).innerText()).toMatch(/^2 of \d+ deals$/)
      for (const id of ids) expect((await stored(id)).status).toBe(200)

      await page.getByLabel(/^Select all 2 deals shown$/).check()
      await page.getByRole('button', { name: 'Delete', exact: true }).click()
      await expect.poll(() => count(page).innerText()).toMatch(/^0 of \d+ deals$/)
      await page.getByRole('link', { name: 'Trash', exact: true }).first().click()
      await page.locator('[data-testid=trash-count]').waitFor()
      for (const id of ids) await expect.poll(() => row(page, id).locator('td').allInnerTexts()).toEqual(expect.arrayContaining(['You']))
      await page.screenshot({ path: join(SCREENSHOTS, 'trash.png') })
      await row(page, ids[0]!).getByRole('button', { name: 'Restore' }).click()
      await page.locator('.toast', { hasText: '“Bulky one” restored' }).waitFor()
      await expect.poll(() => row(page, ids[0]!).count()).toBe(0)
      expect(await row(page, ids[1]!).count()).toBe(1)
      expect((await stored(ids[0]!)).status).toBe(200)
      expect((await stored(ids[1]!)).status).toBe(404)
      await page.goto('/deals')
      await page.getByLabel('Search deals').fill('Bulky')
      await row(page, ids[0]!).waitFor()
      expect(await row(page, ids[1]!).count()).toBe(0)
    } finally {
      await context.close()
    }
  })

  it('deleting from the record page offers Undo, as the list does; the trash follows deletions and restorations made elsewhere without a reload', async () => {
    const id = await create('deals', { title: 'Solo deal', stage: 'lead' })
    const stored = () => app.alice.request('GET', `/api/records/deals/${id}`)
    const { context, page } = await app.e2e.signedIn('alice@demo.test', `/deals/${id}`)
    try {
      await page.getByTestId('record-title').getByText('Solo deal').waitFor()
      page.once('dialog', (dialog) => void dialog.accept())
      await page.locator('.page-actions').getByRole('button', { name: 'Delete', exact: true }).click()
      await page.waitForURL(/\/deals$/)
      await until(async () => (await stored()).status === 404, 'deleted')
      await page.locator('.toast', { hasText: 'Deal moved to the trash' }).getByRole('button', { name: 'Undo' }).click()
      await page.waitForURL(`**/deals/${id}`)
      await until(async () => (await stored()).status === 200, 'restored')
      await page.getByTestId('record-title').getByText('Solo deal').waitFor()

      // The trash, open while the API deletes and restores: it follows without a reload.
      await page.goto('/trash/deals')
      await page.locator('[data-testid=trash-count]').waitFor()
      expect(await row(page, id).count()).toBe(0)
      expect((await app.alice.request('DELETE', `/api/records/deals/${id}`)).status).toBe(204)
      await row(page, id).waitFor()
      expect((await app.alice.request('POST', `/api/records/deals/${id}/restore`)).status).toBe(204)
      await expect.poll(() => row(page, id).count()).toBe(0)
    } finally {
      await context.close()
    }
  })

  it('the board totals each stage per currency, never adding dollars to euros, with amounts weighted by the stage; a move can be undone', async () => {
    const dollars = await create('deals', { title: 'Dollar negotiation', stage: 'negotiation', amount: 1000, currency: 'USD' })
    await create('deals', { title: 'Pound negotiation', stage: 'negotiation', amount: 3000, currency: 'GBP' })
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/board')
    try {
      const totals = page.locator('[data-testid=total-negotiation]')
      const sum = (currency: string) => totals.locator(`[data-currency=${currency}]`)
      await sum('USD').waitFor()
      // The demo's EUR deal at negotiation is 20,000; negotiation is weighted at 75 %.
      expect(await sum('EUR').locator('.column-amount').innerText()).toBe(await money(page, 20_000, 'EUR'))
      expect(await sum('EUR').locator('.column-weighted').innerText()).toBe(`${await money(page, 15_000, 'EUR')} weighted`)
      expect(await sum('USD').locator('.column-amount').innerText()).toBe(await money(page, 1000, 'USD'))
      expect(await sum('GBP').locator('.column-amount').innerText()).toBe(await money(page, 3000, 'GBP'))
      expect(await totals.locator('.column-sum').count()).toBe(3)
      await page.screenshot({ path: join(SCREENSHOTS, 'board-currencies.png') })

      const card = `[data-deal-id="${dollars}"]`
      await page.dragAndDrop(card, '[data-stage=won]')
      await page.locator(`[data-stage=won] ${card}`).waitFor()
      await until(async () => (await app.alice.request('GET', `/api/records/deals/${dollars}`)).body.stage === 'won', 'moved to won')
      await page.locator('.toast', { hasText: '“Dollar negotiation” moved to won' }).getByRole('button', { name: 'Undo' }).click()
      await page.locator(`[data-stage=negotiation] ${card}`).waitFor()
      await until(async () => (await app.alice.request('GET', `/api/records/deals/${dollars}`)).body.stage === 'negotiation', 'moved back')
      await sum('USD').waitFor()
    } finally {
      await context.close()
    }
  })

  it('a list of 10,000 records draws only the rows on screen and scrolls to the last one (time to first render printed)', async () => {
    const N = 10_000
    const now = Date.now()
    // Index entries as the server writes them, straight into the index document: what the list reads.
    await app.e2e.server.server.registry.use('demo/index/leads', async (room) => {
      for (let start = 0; start < N; start += 1000) {
        room.doc.transact(() => {
          for (let i = start; i < start + 1000; i++) {
            const id = `bulk-lead-${String(i).padStart(5, '0')}`
            indexEntriesOf(room.doc).set(id, {
              id,
              title: `Lead ${String(i).padStart(5, '0')}`,
              fields: { name: `Lead ${String(i).padStart(5, '0')}`, company: `Company ${i % 97}`, status: 'new', source: 'import' },
              authority: {},
              updatedAt: new Date(now - i * 1000).toISOString(),
              updatedBy: null,
            })
          }
        }, serverOrigin('index'))
      }
    })
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/leads')
    try {
      await expect.poll(() => count(page).innerText(), { timeout: 60_000 }).toMatch(/^100\d\d leads$/)
      await page.locator('tr[data-record-id]').first().waitFor()
      const renderedMs = await page.evaluate(() => performance.now())
      console.log(`list of ${N} leads: first rows on screen ${Math.round(renderedMs)} ms after navigation start`)
      expect(await page.locator('tr[data-record-id]').count()).toBeLessThan(100)
      // Again, from this browser's copy of the index (IndexedDB) and the server's.
      await page.reload()
      await expect.poll(() => count(page).innerText(), { timeout: 60_000 }).toMatch(/^100\d\d leads$/)
      await page.locator('tr[data-record-id]').first().waitFor()
      console.log(
        `list of ${N} leads, reloaded: first rows on screen ${Math.round(await page.evaluate(() => performance.now()))} ms after navigation start`,
      )
      // By name, A to Z: the demo's Umbrella comes after every "Lead …", last of all.
      const umbrella = await recordId(app.alice, 'leads', 'Umbrella')
      await page.locator('th button.sort', { hasText: 'Name' }).click()
      expect(await row(page, umbrella).count()).toBe(0)
      await until(async () => {
        await page.locator('.table-scroll').evaluate((el) => {
          el.scrollTop = el.scrollHeight
        })
        return (await row(page, umbrella).count()) === 1
      }, 'the last row drawn')
      expect(await page.locator('tr[data-record-id]').count()).toBeLessThan(100)
    } finally {
      await context.close()
    }
  })
})
