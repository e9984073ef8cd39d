/**
 * The record page and the sales workflow in real headless Chromium against the real server:
 * linked records that follow changes made elsewhere, reference pickers, the create form,
 * lead conversion, an invoice from a won deal and its printable page, tasks and My tasks.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { until } from '../helpers/server.js'
import { demoApp, recordId, SCREENSHOTS } from './browser.js'

const app = demoApp()

const count = async (collection: string) =>
  (await app.alice.request('GET', `/api/records/${collection}?limit=200`)).body.items.length as number

describe('record page and sales workflow (Chromium)', () => {
  it('a customer’s page lists its deals, proposals, invoices and upcoming events, and shows a deal added over REST without reload', async () => {
    const id = await recordId(app.alice, 'customers', 'Acme Corp')
    const { context, page } = await app.e2e.signedIn('bob@demo.test', `/customers/${id}`)
    const deals = page.getByTestId('linked-deals')
    await deals.getByRole('link', { name: 'Acme pilot' }).waitFor()
    await page.getByTestId('linked-proposals').getByRole('link', { name: 'Acme renewal proposal' }).waitFor()
    await page.getByTestId('linked-invoices').getByRole('link').first().waitFor()
    await page.getByTestId('linked-events').getByRole('link', { name: 'Acme kickoff' }).waitFor()
    expect(await deals.getByRole('link', { name: 'Acme service contract' }).count()).toBe(0)

    const created = await app.alice.request('POST', '/api/records/deals', { title: 'Acme service contract', customerId: id, amount: 7000 })
    expect(created.status).toBe(201)
    await deals.getByRole('link', { name: 'Acme service contract' }).waitFor()
    await page.screenshot({ path: join(SCREENSHOTS, 'record-linked.png') })

    // The link opens the deal, whose customer picker names the customer and links back.
    await deals.getByRole('link', { name: 'Acme service contract' }).click()
    await page.waitForURL(`**/deals/${created.body.id}`)
    const customer = page.locator('[data-field=customerId]')
    await customer.filter({ hasText: 'Acme Corp' }).waitFor()
    // The picker searches by name: choosing Globex moves the deal to that customer.
    await customer.click()
    await page.getByPlaceholder('Search…').fill('glob')
    await page.screenshot({ path: join(SCREENSHOTS, 'record-picker.png') })
    await page.getByRole('option', { name: 'Globex' }).click()
    await customer.filter({ hasText: 'Globex' }).waitFor()
    const globex = await recordId(app.alice, 'customers', 'Globex')
    await until(
      async () => (await app.alice.request('GET', `/api/records/deals/${created.body.id}`)).body.customerId === globex,
      'the new customer over REST',
    )
    await page.getByRole('link', { name: 'Open Globex' }).click()
    await page.waitForURL(`**/customers/${globex}`)
    await page.getByTestId('linked-deals').getByRole('link', { name: 'Acme service contract' }).waitFor()
    await context.close()
  })

  it('“New customer” opens a form with the required name first; nothing exists until it is saved', async () => {
    const before = await count('customers')
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/customers')
    await page.getByRole('button', { name: 'New customer' }).click()
    await page.waitForURL('**/customers/new')
    const required = page.getByRole('region', { name: 'Required' })
    await required.locator('[name=name]').waitFor()
    await page.getByRole('button', { name: 'Create customer' }).click()
    await page.getByText('Name is required').waitFor()
    // Filled in, then left: nothing was made.
    await page.locator('[name=name]').fill('Abandoned Ltd')
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.waitForURL(/\/customers$/)
    expect(await count('customers')).toBe(before)

    await page.getByRole('button', { name: 'New customer' }).click()
    await page.locator('[name=name]').fill('Initrode')
    await page.locator('[name=email]').fill('hello@initrode.test')
    await page.locator('[data-field=ownerId]').click()
    await page.getByRole('option', { name: /Carol Chen/ }).click()
    await page.screenshot({ path: join(SCREENSHOTS, 'new-record.png') })
    await page.getByRole('button', { name: 'Create customer' }).click()
    await page.waitForURL(/\/customers\/(?!new)[\w-]+$/)
    await page.getByTestId('record-title').getByText('Initrode').waitFor()
    const id = new URL(page.url()).pathname.split('/')[2]!
    const { body } = await app.alice.request('GET', `/api/records/customers/${id}`)
    expect(body).toMatchObject({ name: 'Initrode', email: 'hello@initrode.test' })
    expect(body.ownerId).toBeTruthy()
    expect(await count('customers')).toBe(before + 1)

    // “New event” on the events list opens the booking dialog itself.
    await page.goto('/events')
    await page.getByRole('button', { name: 'New event' }).click()
    await page.getByTestId('event-dialog').waitFor()
    await page.getByTestId('event-dialog').getByRole('button', { name: 'Cancel' }).click()
    await page.waitForURL(/\/events$/)
    await context.close()
  })

  it('converting a lead makes a customer with its notes and a deal, and the lead says converted with links to both', async () => {
    const leadId = await recordId(app.alice, 'leads', 'Umbrella')
    await app.alice.request('PATCH', `/api/records/leads/${leadId}`, { notes: 'Wants 40 seats by spring.' })
    const { context, page } = await app.e2e.signedIn('carol@demo.test', `/leads/${leadId}`)
    await page.getByRole('button', { name: 'Convert to customer' }).click()
    await page.waitForURL(/\/customers\/[\w-]+$/)
    await page.getByTestId('record-title').getByText('Umbrella').waitFor()
    await page.getByTestId('linked-deals').getByRole('link', { name: 'Umbrella deal' }).waitFor()
    await page.getByRole('link', { name: 'Open Umbrella' }).waitFor()
    const customerId = new URL(page.url()).pathname.split('/')[2]!
    const customer = (await app.alice.request('GET', `/api/records/customers/${customerId}`)).body
    expect(customer).toMatchObject({ leadId, notes: 'Wants 40 seats by spring.' })
    expect((await app.alice.request('GET', `/api/records/leads/${leadId}`)).body).toMatchObject({ status: 'converted', customerId })
    // The lead links forward, and offers no second conversion.
    await page.getByRole('link', { name: 'Open Umbrella' }).click()
    await page.waitForURL(`**/leads/${leadId}`)
    await page.locator('[data-field=dealId]').filter({ hasText: 'Umbrella deal' }).waitFor()
    expect(await page.getByRole('button', { name: 'Convert to customer' }).count()).toBe(0)
    await context.close()
  })

  it('a won deal becomes an invoice; its printable page shows the workspace, the customer, the items, the tax and the totals', async () => {
    const dealId = await recordId(app.alice, 'deals', 'Acme training')
    expect((await app.alice.request('GET', `/api/records/deals/${dealId}`)).body).toMatchObject({ stage: 'won', amount: 25000 })
    const { context, page } = await app.e2e.signedIn('alice@demo.test', `/deals/${dealId}`)
    await page.getByRole('button', { name: 'Create invoice' }).click()
    await page.waitForURL(/\/invoices\/[\w-]+$/)
    const invoiceId = new URL(page.url()).pathname.split('/')[2]!
    await page.locator('[data-testid=items-total]', { hasText: '25,000' }).waitFor()
    await page.locator('[name=taxRate]').fill('20')
    await page.locator('[name=taxRate]').blur()
    await until(
      async () => (await app.alice.request('GET', `/api/records/invoices/${invoiceId}`)).body.taxRate === 20,
      'the tax rate saved',
    )
    await page.locator('[data-testid=items-total-with-tax]', { hasText: '30,000' }).waitFor()
    await page.getByRole('link', { name: 'Print / PDF' }).click()
    await page.waitForURL(`**/invoices/${invoiceId}/print`)
    const sheet = page.getByTestId('invoice-print')
    await sheet.getByTestId('invoice-workspace').getByText('Demo Company').waitFor()
    await sheet.getByTestId('invoice-customer').getByText('Acme Corp').waitFor()
    await sheet.getByRole('cell', { name: 'Acme training' }).waitFor()
    expect(await sheet.getByTestId('invoice-subtotal').innerText()).toMatch(/25,000\.00/)
    expect(await sheet.getByText('Tax (20 %)').count()).toBe(1)
    expect(await sheet.getByTestId('invoice-tax').innerText()).toMatch(/5,000\.00/)
    expect(await sheet.getByTestId('invoice-total').innerText()).toMatch(/30,000\.00/)
    await page.screenshot({ path: join(SCREENSHOTS, 'invoice-print.png') })
    // Printed, the app's frame and the page's buttons are left out.
    await page.emulateMedia({ media: 'print' })
    expect(await page.locator('.sidebar').isVisible()).toBe(false)
    expect(await page.getByRole('button', { name: 'Print / Save as PDF' }).isVisible()).toBe(false)
    expect(await sheet.getByTestId('invoice-total').isVisible()).toBe(true)
    await page.emulateMedia({ media: 'screen' })
    await context.close()
  })

  it('a task added on a record shows there and in the assignee’s My tasks, and ticking it done is seen by both', async () => {
    const id = await recordId(app.alice, 'customers', 'Initech')
    const a = await app.e2e.signedIn('alice@demo.test', `/customers/${id}`)
    const b = await app.e2e.signedIn('bob@demo.test', '/my-tasks')
    const tasks = a.page.getByTestId('record-tasks')
    await tasks.locator('[name=task-title]').fill('Send Initech the contract')
    await tasks.locator('[name=task-due]').fill('2026-12-01')
    await tasks.locator('[name=task-assignee]').selectOption({ label: 'Bob Baker' })
    await tasks.getByRole('button', { name: 'Add task' }).click()
    await tasks.getByRole('link', { name: 'Send Initech the contract' }).waitFor()

    const mine = b.page.getByTestId('my-tasks')
    await mine.getByRole('link', { name: 'Send Initech the contract' }).waitFor()
    await mine.getByRole('link', { name: 'Initech', exact: true }).waitFor()
    await b.page.screenshot({ path: join(SCREENSHOTS, 'my-tasks.png') })
    expect(await a.page.goto('/my-tasks').then(() => a.page.getByTestId('my-tasks').getByText('Send Initech the contract').count())).toBe(0)

    // A click, not check(): a done task leaves My tasks, so the box may be gone before check() reads it back.
    await mine.getByRole('checkbox', { name: 'Done: Send Initech the contract' }).click()
    await mine.getByRole('link', { name: 'Send Initech the contract' }).waitFor({ state: 'detached' })
    await b.page.getByRole('checkbox', { name: 'Show done' }).check()
    await mine.locator('.task-done', { hasText: 'Send Initech the contract' }).waitFor()
    await a.page.goto(`/customers/${id}`)
    await a.page.getByTestId('record-tasks').locator('.task-done', { hasText: 'Send Initech the contract' }).waitFor()
    const { body } = await app.alice.request('GET', '/api/records/tasks')
    expect(body.items).toEqual([expect.objectContaining({ title: 'Send Initech the contract', status: 'done', about: `customers/${id}` })])
    await a.context.close()
    await b.context.close()
  })

  it('a viewer gets no create form and no booking dialog; the palette’s “New customer…” opens the form and creates nothing', async () => {
    const vera = await app.e2e.signedIn('vera@demo.test', '/customers/new')
    await vera.page.getByTestId('viewer-cannot-create').getByText("you can't add customers").waitFor()
    expect(await vera.page.locator('[name=name]').count()).toBe(0)
    await vera.page.goto('/events/new')
    await vera.page.getByTestId('viewer-cannot-create').waitFor()
    expect(await vera.page.getByRole('button', { name: 'Book' }).count()).toBe(0)
    await vera.context.close()

    const before = await count('customers')
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/board')
    await page.keyboard.press('Control+k')
    await page.keyboard.type('New customer')
    await page.getByRole('option', { name: 'New customer…' }).click()
    await page.waitForURL('**/customers/new')
    await page.getByRole('region', { name: 'Required' }).locator('[name=name]').waitFor()
    expect(await count('customers')).toBe(before)
    await context.close()
  })

  it('at 400 px wide no screen is wider than the window: the top bar, a record with line items, exports', async () => {
    const invoice = (await app.alice.request('GET', '/api/records/invoices?limit=1')).body.items[0].id as string
    const { context, page } = await app.e2e.signedIn('alice@demo.test', '/my-tasks')
    await page.setViewportSize({ width: 400, height: 800 })
    const screens: [string, string][] = [
      ['/my-tasks', '[data-testid=my-tasks]'],
      [`/invoices/${invoice}`, '[data-testid=items-total]'],
      ['/exports', '.table-wrap'],
      ['/deals', '[data-testid=list-count]'],
    ]
    for (const [path, ready] of screens) {
      await page.goto(path)
      await page.locator(ready).first().waitFor()
      expect(await page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(400)
      if (path.startsWith('/invoices')) await page.screenshot({ path: join(SCREENSHOTS, 'record-narrow.png'), fullPage: true })
    }
    await context.close()
  })
})
