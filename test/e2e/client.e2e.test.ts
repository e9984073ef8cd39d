/**
 * The React client in real headless Chromium against the real server: co-editing
 * with cursors, the same field set at the same moment, the live pipeline board, double-booking, logout across tabs, sign-out
 * deleting the device's copies, offline editing, a clean signed-out load, and exports
 * followed from another tab.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { type Api, login, until } from '../helpers/server.js'
import { type E2E, recordId, SCREENSHOTS, startE2E } from './browser.js'

let e2e: E2E
let alice: Api

beforeAll(async () => {
  e2e = await startE2E()
  alice = await login(e2e.server.url, 'alice@demo.test', DEMO_PASSWORD)
})

afterAll(async () => {
  await e2e?.close()
})

const notesOf = (page: Page) => page.locator('[data-testid=notes-editor] .ql-editor')

async function fieldValue(page: Page, name: string): Promise<string> {
  return page.locator(`[name=${name}]`).inputValue()
}

/** The IndexedDB databases the app keeps in this browser (one per document of a user). */
/** How many updates the IndexedDB copy of the document whose name ends with `suffix` holds. */
async function storedUpdates(page: Page, suffix: string): Promise<number> {
  return page.evaluate(async (end) => {
    const name = (await indexedDB.databases()).map((db) => db.name ?? '').find((n) => n.startsWith('accord:') && n.endsWith(end))
    if (!name) return 0
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(name)
      request.onsuccess = () => resolve(request.result)
      request.onerror = () => reject(request.error)
    })
    try {
      if (!db.objectStoreNames.contains('updates')) return 0
      return await new Promise<number>((resolve, reject) => {
        const request = db.transaction('updates').objectStore('updates').count()
        request.onsuccess = () => resolve(request.result)
        request.onerror = () => reject(request.error)
      })
    } finally {
      db.close()
    }
  }, suffix)
}

async function localCopies(page: Page): Promise<string[]> {
  return page.evaluate(async () => (await indexedDB.databases()).map((db) => db.name ?? '').filter((name) => name.startsWith('accord:')))
}

describe('client (Chromium)', () => {
  it('two users type into the same notes at once: both texts, each other’s cursor, and both field edits survive', async () => {
    const id = await recordId(alice, 'customers', 'Globex')
    const a = await e2e.signedIn('alice@demo.test', `/customers/${id}`)
    const b = await e2e.signedIn('bob@demo.test', `/customers/${id}`)
    const c = await e2e.signedIn('carol@demo.test', '/customers')
    for (const { page } of [a, b]) await notesOf(page).waitFor()
    // Presence: the list shows who has the record open.
    await c.page.locator(`tr[data-record-id="${id}"] [data-testid=viewers] [aria-label="Alice Archer"]`).waitFor()
    await c.page.locator(`tr[data-record-id="${id}"] [data-testid=viewers] [aria-label="Bob Baker"]`).waitFor()
    await c.page.screenshot({ path: join(SCREENSHOTS, 'list.png') })
    await notesOf(a.page).click()
    await notesOf(b.page).click()
    await Promise.all([
      a.page.keyboard.type('Alice: call on Monday. ', { delay: 5 }),
      b.page.keyboard.type('Bob: send the quote. ', { delay: 5 }),
    ])
    // Concurrent field edits on the same record, different fields.
    await Promise.all([a.page.locator('[name=phone]').fill('+1 555 0142'), b.page.locator('[name=company]').fill('Globex Industries')])
    for (const { page } of [a, b]) {
      await page.waitForFunction(() => {
        const text = document.querySelector('[data-testid=notes-editor] .ql-editor')?.textContent ?? ''
        return text.includes('Alice: call on Monday.') && text.includes('Bob: send the quote.')
      })
    }
    // Put both carets back in the notes so each sees the other's named cursor.
    await notesOf(a.page).click()
    await notesOf(b.page).click()
    await b.page.keyboard.press('Home')
    await a.page.locator('.ql-cursor-name', { hasText: 'Bob Baker' }).waitFor()
    await b.page.locator('.ql-cursor-name', { hasText: 'Alice Archer' }).waitFor()
    await a.page.waitForFunction(() => (document.querySelector('[name=company]') as HTMLInputElement).value === 'Globex Industries')
    await b.page.waitForFunction(() => (document.querySelector('[name=phone]') as HTMLInputElement).value === '+1 555 0142')
    await a.page.locator('[data-status=saved]').waitFor()
    await b.page.locator('[data-status=saved]').waitFor()
    const { body } = await alice.request('GET', `/api/records/customers/${id}`)
    expect(body.phone).toBe('+1 555 0142')
    expect(body.company).toBe('Globex Industries')
    expect(body.notes).toContain('Alice: call on Monday.')
    expect(body.notes).toContain('Bob: send the quote.')
    // The activity timeline follows the edits live.
    await a.page.locator('.timeline li', { hasText: 'Bob Baker' }).first().waitFor()
    // A third user opening the record sees both named cursors.
    await c.page.goto(`/customers/${id}`)
    await c.page.locator('.ql-cursor-name', { hasText: 'Alice Archer' }).waitFor()
    await c.page.locator('.ql-cursor-name', { hasText: 'Bob Baker' }).waitFor()
    await c.page.locator('.timeline li', { hasText: 'Bob Baker' }).first().waitFor()
    await c.page.screenshot({ path: join(SCREENSHOTS, 'editor.png') })
    await a.context.close()
    await b.context.close()
    await c.context.close()
  })

  it('two users type into the same deal title at once, at its start and its end: both texts survive, each caret stays where its owner types', async () => {
    const id = await recordId(alice, 'deals', 'Acme training')
    const a = await e2e.signedIn('alice@demo.test', `/deals/${id}`)
    const b = await e2e.signedIn('bob@demo.test', `/deals/${id}`)
    const titleOf = (page: Page) => page.locator('[name=title]')
    for (const { page } of [a, b])
      await page.waitForFunction(() => (document.querySelector('[name=title]') as HTMLInputElement | null)?.value === 'Acme training')
    await titleOf(a.page).click()
    await a.page.keyboard.press('End')
    await titleOf(b.page).click()
    await b.page.keyboard.press('Home')
    await Promise.all([a.page.keyboard.type(' for Q3 2026', { delay: 15 }), b.page.keyboard.type('Big ', { delay: 40 })])
    const merged = 'Big Acme training for Q3 2026'
    for (const { page } of [a, b]) {
      await page.waitForFunction((value) => (document.querySelector('[name=title]') as HTMLInputElement).value === value, merged)
    }
    await until(async () => (await alice.request('GET', `/api/records/deals/${id}`)).body.title === merged, 'the merged title over REST')
    await a.context.close()
    await b.context.close()
  })

  it('an invoice: line items total live, and sending it shows the number the server assigns', async () => {
    const { body } = await alice.request('GET', '/api/records/invoices')
    const id = body.items[0].id as string
    const a = await e2e.signedIn('alice@demo.test', `/invoices/${id}`)
    const b = await e2e.signedIn('bob@demo.test', `/invoices/${id}`)
    await a.page.getByText('Draft — numbered when sent').waitFor()
    await a.page.getByRole('button', { name: '+ Add item' }).click()
    const quantity = a.page.getByLabel('Quantity of item 2')
    await quantity.fill('3')
    await a.page.getByLabel('Unit price of item 2').fill('100')
    await a.page.getByLabel('Unit price of item 2').blur()
    // 2 × 1800 + 3 × 100, on the other user's screen.
    await b.page.locator('[data-testid=items-total]', { hasText: '3,900' }).waitFor()
    await b.page.locator('[name=status]').selectOption('sent')
    await a.page.locator('[data-testid=invoice-number]', { hasText: /No\. \d+/ }).waitFor()
    await a.context.close()
    await b.context.close()
  })

  it('an edit the server rejects (end before start) is explained to the user and reverted; a viewer gets read-only inputs', async () => {
    const id = await recordId(alice, 'events', 'Globex demo')
    const a = await e2e.signedIn('carol@demo.test', `/events/${id}`)
    const end = a.page.locator('[name=end]')
    await a.page.waitForFunction(() => (document.querySelector('[name=end]') as HTMLInputElement | null)?.value)
    const before = await end.inputValue()
    const start = await a.page.locator('[name=start]').inputValue()
    // One hour before the start: each field is valid alone, together they are not.
    const earlier = new Date(new Date(start).getTime() - 3_600_000)
    const pad = (n: number) => String(n).padStart(2, '0')
    await end.fill(
      `${earlier.getFullYear()}-${pad(earlier.getMonth() + 1)}-${pad(earlier.getDate())}T${pad(earlier.getHours())}:${pad(earlier.getMinutes())}`,
    )
    await a.page.locator('[data-testid=notices]', { hasText: 'rejected' }).waitFor()
    await a.page.locator('[name=title]').focus()
    await a.page.waitForFunction((value) => (document.querySelector('[name=end]') as HTMLInputElement).value === value, before)
    // The timeline tells the booking in plain words and leaves the rejected edit out.
    const timeline = a.page.locator('.timeline')
    await timeline.getByText(/^Booking confirmed for /).waitFor()
    await a.page.waitForTimeout(1_500)
    expect(await timeline.innerText()).not.toMatch(/Authority|Carol Chen changed End|System changed/)
    await a.context.close()
    // A viewer gets the record read-only: disabled inputs, a notes editor that takes no input.
    const v = await e2e.signedIn('vera@demo.test', `/events/${id}`)
    await v.page.getByText('You have read-only access to this workspace').waitFor()
    expect(await v.page.locator('[name=title]').isDisabled()).toBe(true)
    expect(await notesOf(v.page).getAttribute('contenteditable')).toBe('false')
    // A viewer who only looks writes nothing: not on open, not when the copy kept in this browser loads again.
    await v.page.locator('[data-status=saved]').waitFor()
    await v.page.reload()
    await v.page.locator('[data-status=saved]').waitFor()
    await v.page.waitForTimeout(1_000)
    expect(await v.page.getByText('your change was undone').count()).toBe(0)
    await v.context.close()
  })

  it('emptying the optional amount removes it for everyone; a negative amount is explained in plain words and, once left, reported as not saved', async () => {
    const id = await recordId(alice, 'deals', 'Globex support plan')
    const before = (await alice.request('GET', `/api/records/deals/${id}`)).body.amount
    expect(typeof before).toBe('number')
    const { context, page } = await e2e.signedIn('bob@demo.test', `/deals/${id}`)
    const amount = page.locator('[name=amount]')
    await page.locator('[data-status=saved]').waitFor()
    await amount.fill('-1')
    await page.getByText("Amount can't be negative").waitFor()
    await page.locator('[name=title]').focus()
    await page.getByText("Not saved — Amount can't be negative").waitFor()
    expect(await amount.inputValue()).toBe(String(before))
    await amount.fill('')
    await page.locator('[name=title]').focus()
    await until(
      async () => (await alice.request('GET', `/api/records/deals/${id}`)).body.amount === undefined,
      'the amount removed on the server',
    )
    await page.reload()
    await page.locator('[data-status=saved]').waitFor()
    expect(await amount.inputValue()).toBe('')
    await context.close()
  })

  it('a record deleted by someone else while it is open turns read-only with who deleted it, and Restore brings it back', async () => {
    const id = await recordId(alice, 'deals', 'Globex hardware')
    const { context, page } = await e2e.signedIn('bob@demo.test', `/deals/${id}`)
    await page.locator('[data-status=saved]').waitFor()
    expect(await page.locator('[name=title]').isDisabled()).toBe(false)
    expect((await alice.request('DELETE', `/api/records/deals/${id}`)).status).toBe(204)
    await page.getByTestId('deleted-notice').getByText('Deleted by Alice Archer').waitFor()
    expect(await page.locator('[name=title]').isDisabled()).toBe(true)
    expect(await page.locator('[name=amount]').isDisabled()).toBe(true)
    await page.getByTestId('deleted-notice').getByRole('button', { name: 'Restore' }).click()
    await page.getByTestId('deleted-notice').waitFor({ state: 'detached' })
    expect(await page.locator('[name=title]').isDisabled()).toBe(false)
    await until(async () => (await alice.request('GET', `/api/records/deals/${id}`)).status === 200, 'the restored deal over REST')
    await context.close()
  })

  it('the user’s own second tab shows its cursor as “You (other tab)”, not as someone with their name', async () => {
    const id = await recordId(alice, 'deals', 'Acme pilot')
    const { context, page } = await e2e.signedIn('alice@demo.test', `/deals/${id}`)
    const second = await context.newPage()
    await second.goto(`/deals/${id}`)
    for (const tab of [page, second]) await tab.locator('[data-status=saved]').waitFor()
    await notesOf(second).click()
    await notesOf(page).click()
    await page.locator('.ql-cursor-name', { hasText: 'You (other tab)' }).waitFor({ state: 'attached' })
    expect(await page.locator('.ql-cursor-name', { hasText: 'Alice Archer' }).count()).toBe(0)
    await context.close()
  })

  it('stage labels read the same in badges and selects, and Lead and Qualified have colours of their own', async () => {
    const { context, page } = await e2e.signedIn('alice@demo.test', '/deals')
    const lead = page.locator('.badge-lead').first()
    const qualified = page.locator('.badge-qualified').first()
    await lead.waitFor()
    await qualified.waitFor()
    const background = (badge: typeof lead) => badge.evaluate((el) => getComputedStyle(el).backgroundColor)
    expect(await background(lead)).not.toBe(await background(qualified))
    await page.screenshot({ path: join(SCREENSHOTS, 'stage-badges.png') })
    const badgeText = await lead.evaluate((el) => (el as HTMLElement).innerText)
    await page
      .locator('tbody tr', { has: page.locator('.badge-lead') })
      .first()
      .click()
    // The form is drawn before the record arrives (its select reads "—" until then).
    await expect.poll(() => page.locator('[name=stage] option:checked').innerText()).toBe(badgeText)
    expect(badgeText).toBe('Lead')
    await context.close()
  })

  it('a 700-character unbroken title keeps every list column on screen and stays inside its board column', async () => {
    const title = 'X'.repeat(700)
    const created = await alice.request('POST', '/api/records/deals', { title, stage: 'qualified', amount: 1 })
    expect(created.status).toBe(201)
    const { context, page } = await e2e.signedIn('alice@demo.test', '/deals')
    try {
      await page.locator(`tr[data-record-id="${created.body.id}"]`).waitFor()
      const wrap = page.locator('.table-wrap')
      expect(await wrap.evaluate((el) => el.scrollWidth - el.clientWidth)).toBeLessThanOrEqual(1)
      const lastHead = (await page.locator('.table th').last().boundingBox())!
      expect(lastHead.x + lastHead.width).toBeLessThanOrEqual(1440)
      await page.screenshot({ path: join(SCREENSHOTS, 'long-title-list.png') })
      await page.goto('/board')
      const card = page.locator(`[data-deal-id="${created.body.id}"]`)
      await card.waitFor()
      const column = (await page.locator('.column-qualified').boundingBox())!
      const box = (await card.boundingBox())!
      expect(box.x + box.width).toBeLessThanOrEqual(column.x + column.width)
      const widths = await page.locator('.column').evaluateAll((els) => els.map((el) => Math.round(el.getBoundingClientRect().width)))
      expect(Math.max(...widths) - Math.min(...widths)).toBeLessThanOrEqual(1)
      await page.screenshot({ path: join(SCREENSHOTS, 'long-title-board.png') })
    } finally {
      await alice.request('DELETE', `/api/records/deals/${created.body.id}`)
      await context.close()
    }
  })

  it('the new-event dialog keeps Ends inside it and drops its error once the times are right; "just now" and narrow events keep their times whole', async () => {
    const monday = new Date()
    monday.setHours(0, 0, 0, 0)
    monday.setDate(monday.getDate() - ((monday.getDay() + 6) % 7))
    const at = (hour: number) => new Date(monday.getTime() + 3 * 86_400_000 + hour * 3_600_000).toISOString()
    const ids: string[] = []
    for (const room of ['Atlas', 'Borealis', 'Cosmos']) {
      const res = await alice.request('POST', '/api/records/events', { title: `Overlap in ${room}`, start: at(12), end: at(13), room })
      expect(res.status).toBe(201)
      ids.push(res.body.id)
    }
    const { context, page } = await e2e.signedIn('alice@demo.test', '/calendar')
    try {
      // Three events side by side: each narrow block still shows its start time whole.
      for (const id of ids) await page.locator(`.event-block[data-event-id="${id}"]`).waitFor()
      const cut = await page
        .locator(ids.map((id) => `.event-block[data-event-id="${id}"] .event-time`).join(','))
        .evaluateAll((els) =>
          els.filter((el) => el.scrollWidth > el.clientWidth).map((el) => `${el.textContent} ${el.scrollWidth}/${el.clientWidth}`),
        )
      await page.screenshot({ path: join(SCREENSHOTS, 'calendar-narrow-events.png') })
      expect(cut).toEqual([])
      await page.getByRole('button', { name: 'New event' }).click()
      const dialog = page.getByTestId('event-dialog')
      const ends = dialog.locator('[name=end]')
      const inside = (await dialog.boundingBox())!
      const endBox = (await ends.boundingBox())!
      expect(endBox.x + endBox.width).toBeLessThanOrEqual(inside.x + inside.width)
      const start = await dialog.locator('[name=start]').inputValue()
      await ends.fill(start)
      await dialog.getByTestId('times-issue').getByText('Ends must be after it starts').waitFor()
      await page.screenshot({ path: join(SCREENSHOTS, 'event-dialog-times.png') })
      const later = new Date(new Date(start).getTime() + 7_200_000)
      const pad = (n: number) => String(n).padStart(2, '0')
      await ends.fill(
        `${later.getFullYear()}-${pad(later.getMonth() + 1)}-${pad(later.getDate())}T${pad(later.getHours())}:${pad(later.getMinutes())}`,
      )
      await dialog.getByTestId('times-issue').waitFor({ state: 'detached' })
      expect(await dialog.getByRole('alert').count()).toBe(0)
      await page.keyboard.press('Escape')
      // "just now" on one line, in the list and in the timeline.
      await page.goto('/events')
      const updated = page.locator('td.cell-time').first()
      await updated.waitFor()
      expect(await updated.evaluate((el) => getComputedStyle(el).whiteSpace)).toBe('nowrap')
      await page.goto(`/events/${ids[0]}`)
      const time = page.locator('.timeline time').first()
      await time.waitFor()
      expect(await time.evaluate((el) => getComputedStyle(el).whiteSpace)).toBe('nowrap')
    } finally {
      for (const id of ids) await alice.request('DELETE', `/api/records/events/${id}`)
      await context.close()
    }
  })

  it('two users set the same amount at the same moment: the one whose value lost is told, keeps theirs with one click, and no new conflict follows', async () => {
    const id = await recordId(alice, 'deals', 'Globex expansion')
    const a = await e2e.signedIn('alice@demo.test', `/deals/${id}`)
    const b = await e2e.signedIn('bob@demo.test', `/deals/${id}`)
    const people = [
      { ...a, name: 'Alice Archer', amount: 7000, shown: '7,000' },
      { ...b, name: 'Bob Baker', amount: 9000, shown: '9,000' },
    ]
    for (const { page } of people) {
      await page.locator('[data-status=saved]').waitFor()
      await page.waitForFunction(() => navigator.serviceWorker.controller !== null)
    }
    // An open socket outlives Chromium's offline mode: reloaded offline, neither page has one, so the two edits are truly concurrent.
    for (const { context, page, amount } of people) {
      await context.setOffline(true)
      await page.reload()
      await page.locator('[data-status=offline]').waitFor()
      await page.locator('[name=amount]').fill(String(amount))
      // Done typing: a focused input keeps its draft rather than showing remote values.
      await page.locator('[name=amount]').blur()
    }
    await a.context.setOffline(false)
    await until(async () => (await alice.request('GET', `/api/records/deals/${id}`)).body.amount === 7000, 'Alice’s amount on the server')
    await b.context.setOffline(false)
    // Which value wins is the CRDT's choice (by client id): find out who lost.
    const lostMarker = '[data-testid=conflict][data-outcome=lost]'
    let loserIndex = -1
    await until(async () => {
      for (const [i, { page }] of people.entries()) if ((await page.locator(lostMarker).count()) > 0) loserIndex = i
      return loserIndex >= 0
    }, 'the person whose value lost sees a marker')
    const loser = people[loserIndex]!
    const winner = people[1 - loserIndex]!
    await expect
      .poll(() => loser.page.locator(lostMarker).textContent())
      .toContain(`${winner.name} changed this at the same moment: ${winner.shown} — yours was ${loser.shown}`)
    await winner.page
      .locator('[data-testid=conflict][data-outcome=won]', { hasText: `You replaced ${loser.name}’s ${loser.shown} at the same moment` })
      .waitFor()
    expect(await fieldValue(loser.page, 'amount')).toBe(String(winner.amount))
    // The activity timeline says it in plain words.
    await loser.page
      .locator('[data-testid=timeline-overwrite]', {
        hasText: `${winner.name}’s ${winner.shown} replaced ${loser.name}’s ${loser.shown} at the same moment`,
      })
      .waitFor()
    await loser.page.screenshot({ path: join(SCREENSHOTS, 'conflict.png') })
    // Keep mine: an ordinary edit of the live value, not a concurrent one.
    await loser.page.getByRole('button', { name: /^Keep mine/ }).click()
    for (const { page } of people) {
      await page.waitForFunction(
        (value) => (document.querySelector('[name=amount]') as HTMLInputElement).value === value,
        String(loser.amount),
      )
      await page.locator('[data-status=saved]').waitFor()
    }
    await until(
      async () => (await alice.request('GET', `/api/records/deals/${id}`)).body.amount === loser.amount,
      'the kept value on the server',
    )
    for (const { page } of people) expect(await page.locator('[data-testid=conflict]').count()).toBe(0)
    const { body } = await alice.request('GET', `/api/records/deals/${id}/history`)
    const overwrites = (body.items as { overwritten?: unknown[] }[]).flatMap((item) => item.overwritten ?? [])
    expect(overwrites).toEqual([{ field: 'amount', value: loser.amount, userId: expect.any(String) }])
    await a.context.close()
    await b.context.close()
  })

  it('dragging a deal to another stage updates the other user’s board without reload; the keyboard moves it too', async () => {
    const id = await recordId(alice, 'deals', 'Acme pilot')
    const a = await e2e.signedIn('alice@demo.test', '/board')
    const b = await e2e.signedIn('carol@demo.test', '/board')
    const card = `[data-deal-id="${id}"]`
    await a.page.locator(`[data-stage=lead] ${card}`).waitFor()
    await b.page.locator(`[data-stage=lead] ${card}`).waitFor()
    await a.page.dragAndDrop(card, '[data-stage=qualified]')
    await b.page.locator(`[data-stage=qualified] ${card}`).waitFor()
    // Keyboard alternative: focus the card, press → to move it one stage on.
    await b.page.locator(card).focus()
    await b.page.keyboard.press('ArrowRight')
    await a.page.locator(`[data-stage=proposal] ${card}`).waitFor()
    const { body } = await alice.request('GET', `/api/records/deals/${id}`)
    expect(body.stage).toBe('proposal')
    // First load of the board (app shell from the service worker cache after the first visit):
    // navigation start to the first deal card on screen.
    await a.page.reload()
    await a.page.locator(`[data-stage=proposal] ${card}`).waitFor()
    const firstLoadMs = await a.page.evaluate(() => performance.now())
    console.log(`board first load: ${Math.round(firstLoadMs)} ms`)
    expect(firstLoadMs).toBeLessThan(5_000)
    await a.page.screenshot({ path: join(SCREENSHOTS, 'board.png') })
    await a.context.close()
    await b.context.close()
  })

  it('two users book the same slot: one is confirmed, the other sees the conflict and a free slot to pick', async () => {
    const a = await e2e.signedIn('alice@demo.test', '/calendar')
    const b = await e2e.signedIn('bob@demo.test', '/calendar')
    const pages = [a.page, b.page]
    for (const page of pages) {
      // Friday 16:00–17:00 of this week: drag over two half-hour slots of the grid (slot 32 is 16:00).
      const column = page.locator('.week-column[data-day="4"]')
      const box = (await column.boundingBox())!
      const slotPx = 24
      const y = (slot: number) => box.y + slot * slotPx + slotPx / 2
      await page.mouse.move(box.x + box.width / 2, y(32))
      await page.mouse.down()
      await page.mouse.move(box.x + box.width / 2, y(33), { steps: 3 })
      await page.mouse.up()
      await page.locator('[data-testid=event-dialog] [name=title]').fill(page === a.page ? 'Board review' : 'Supplier call')
      await page.locator('[data-testid=event-dialog] [name=room]').selectOption('Cosmos')
    }
    await Promise.all(pages.map((page) => page.locator('[data-testid=event-dialog] button[type=submit]').click()))
    const decided = '[data-testid=event-dialog] [data-testid=reservation]:is([data-status=confirmed],[data-status=conflict])'
    await Promise.all(pages.map((page) => page.locator(decided).waitFor()))
    const statuses = await Promise.all(pages.map((page) => page.locator(decided).getAttribute('data-status')))
    expect([...statuses].sort()).toEqual(['confirmed', 'conflict'])
    const loser = statuses[0] === 'conflict' ? a.page : b.page
    await loser.locator('[data-testid=free-slot]').first().waitFor()
    // The loser is told what clashed: the room, taken by the winner's event.
    expect(await loser.getByTestId('clashes').textContent()).toMatch(/^Room Cosmos is taken by '(Board review|Supplier call)' /)
    await loser.screenshot({ path: join(SCREENSHOTS, 'calendar.png') })
    await loser.locator('[data-testid=free-slot]').first().click()
    await loser.locator('[data-testid=event-dialog] [data-testid=reservation][data-status=confirmed]').waitFor()
    await a.context.close()
    await b.context.close()
  })

  it('two tabs of one user: signing out in one signs out the other', async () => {
    const context = await e2e.browser.newContext({ baseURL: e2e.server.url })
    const first = await context.newPage()
    await first.goto('/customers')
    await first.locator('[name=email]').fill('carol@demo.test')
    await first.locator('[name=password]').fill(DEMO_PASSWORD)
    await first.getByRole('button', { name: 'Sign in' }).click()
    await first.locator('.topbar').waitFor()
    const second = await context.newPage()
    await second.goto('/deals')
    await second.locator('.topbar').waitFor()
    await first.getByRole('button', { name: 'Sign out' }).click()
    await second.locator('#login-title').waitFor()
    await first.locator('#login-title').waitFor()
    expect(await second.locator('.topbar').count()).toBe(0)
    const me = await context.request.get('/api/me')
    expect(me.status()).toBe(401)
    await context.close()
  })

  it('offline: edit, reload offline, come back online — the edit reaches the other user, even with the record closed', async () => {
    const id = await recordId(alice, 'customers', 'Initech')
    const a = await e2e.signedIn('alice@demo.test', `/customers/${id}`)
    const b = await e2e.signedIn('carol@demo.test', `/customers/${id}`)
    await a.page.locator('[data-status=saved]').waitFor()
    // The service worker holds the app shell once it controls the page.
    await a.page.waitForFunction(() => navigator.serviceWorker.controller !== null)
    await a.context.setOffline(true)
    await a.page.locator('[name=phone]').fill('+1 555 0177')
    await a.page.locator('[data-status=offline]').waitFor()
    await a.page.reload()
    await a.page.locator('.topbar').waitFor()
    await a.page.waitForFunction(() => (document.querySelector('[name=phone]') as HTMLInputElement | null)?.value === '+1 555 0177')
    await notesOf(a.page).click()
    await a.page.keyboard.type('Written offline.')
    // Screens never opened in this tab load offline too: every chunk is in the shell cache.
    await a.page.getByRole('link', { name: 'Calendar' }).click()
    await a.page.locator('#calendar-title').waitFor()
    // Reload once more, away from the record: no screen has it open when the network returns.
    await a.page.reload()
    await a.page.locator('#calendar-title').waitFor()
    expect(await fieldValue(b.page, 'phone')).not.toBe('+1 555 0177')
    await a.context.setOffline(false)
    await b.page.waitForFunction(() => (document.querySelector('[name=phone]') as HTMLInputElement).value === '+1 555 0177')
    await b.page.waitForFunction(() =>
      (document.querySelector('[data-testid=notes-editor] .ql-editor')?.textContent ?? '').includes('Written offline.'),
    )
    await a.context.close()
    await b.context.close()
  })

  it('two tabs of one user keep a record in sync through the browser while the network is cut', async () => {
    const id = await recordId(alice, 'leads', 'Hooli')
    const a = await e2e.signedIn('bob@demo.test', `/leads/${id}`)
    await a.page.locator('[data-status=saved]').waitFor()
    await a.page.waitForFunction(() => navigator.serviceWorker.controller !== null)
    const second = await a.context.newPage()
    await second.goto(`/leads/${id}`)
    await notesOf(second).waitFor()
    await a.context.setOffline(true)
    // Reloaded offline, neither tab has a socket: only the user's BroadcastChannel links them.
    await Promise.all([a.page.reload(), second.reload()])
    await a.page.locator('[data-status=offline]').waitFor()
    await second.locator('[data-status=offline]').waitFor()
    await notesOf(a.page).click()
    await a.page.keyboard.type('Tab to tab, no server.')
    await a.page.locator('[name=source]').fill('trade fair')
    await second.waitForFunction(() =>
      (document.querySelector('[data-testid=notes-editor] .ql-editor')?.textContent ?? '').includes('Tab to tab, no server.'),
    )
    await second.waitForFunction(() => (document.querySelector('[name=source]') as HTMLInputElement).value === 'trade fair')
    await a.context.setOffline(false)
    await a.context.close()
  })

  it('signing out delivers the last edit first, then deletes every IndexedDB copy of the user’s records, in every tab', async () => {
    const id = await recordId(alice, 'customers', 'Acme Corp')
    const leadId = await recordId(alice, 'leads', 'Umbrella')
    const a = await e2e.signedIn('carol@demo.test', `/customers/${id}`)
    const other = await a.context.newPage()
    await other.goto(`/leads/${leadId}`)
    await notesOf(other).waitFor()
    await a.page.locator('[data-status=saved]').waitFor()
    expect(await localCopies(a.page)).toEqual(
      expect.arrayContaining([expect.stringContaining(`/customers/${id}`), expect.stringContaining(`/leads/${leadId}`)]),
    )
    await notesOf(a.page).click()
    await a.page.keyboard.type(' Typed just before signing out.')
    await a.page.getByRole('button', { name: 'Sign out' }).click()
    await a.page.locator('#login-title').waitFor()
    await other.locator('#login-title').waitFor()
    const { body } = await alice.request('GET', `/api/records/customers/${id}`)
    expect(body.notes).toContain('Typed just before signing out.')
    await until(async () => (await localCopies(a.page)).length === 0, 'the local copies are deleted')
    expect(await localCopies(other)).toEqual([])
    expect(await a.page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith('accord:')))).toEqual([])
    await a.context.close()
  })

  it('signing out offline names the record with unsent edits: staying keeps the edit, which syncs once online; discarding deletes it and ends the session when back online', async () => {
    const id = await recordId(alice, 'leads', 'Umbrella')
    const a = await e2e.signedIn('bob@demo.test', `/leads/${id}`)
    await a.page.locator('[data-status=saved]').waitFor()
    await a.page.waitForFunction(() => navigator.serviceWorker.controller !== null)
    // The record is on this device before the network goes: shown, and held by its IndexedDB copy.
    await a.page.waitForFunction(() => (document.querySelector('[name=name]') as HTMLInputElement | null)?.value === 'Umbrella')
    await until(async () => (await storedUpdates(a.page, `/leads/${id}`)) > 0, 'the local copy holds the record')
    await a.context.setOffline(true)
    // Reloaded offline, the page has no socket: the edit can only wait on this device.
    await a.page.reload()
    await a.page.locator('[data-status=offline]').waitFor()
    // The activity is on the server: the panel says it will refresh, not "Loading…" for ever.
    await a.page.getByTestId('timeline-offline').getByText("will refresh when you're back online").waitFor()
    expect(await a.page.locator('.timeline').getByText('Loading…').count()).toBe(0)
    await a.page.locator('[name=source]').fill('kept offline')
    await a.page.getByRole('button', { name: 'Sign out' }).click()
    const dialog = a.page.locator('[data-testid=unsent-edits]')
    await dialog.locator('li', { hasText: 'Lead “Umbrella”' }).waitFor()
    await dialog.getByRole('button', { name: 'Stay signed in' }).click()
    await dialog.waitFor({ state: 'detached' })
    expect(await fieldValue(a.page, 'source')).toBe('kept offline')
    expect(await localCopies(a.page)).toContainEqual(expect.stringContaining(`/leads/${id}`))
    await a.context.setOffline(false)
    await until(
      async () => (await alice.request('GET', `/api/records/leads/${id}`)).body.source === 'kept offline',
      'the edit kept offline reaches the server',
    )
    await a.page.locator('.timeline li').first().waitFor()
    await a.page.getByTestId('timeline-offline').waitFor({ state: 'detached' })
    // Offline again, and this time the user discards.
    await a.context.setOffline(true)
    await a.page.reload()
    await a.page.locator('[data-status=offline]').waitFor()
    await a.page.locator('[name=source]').fill('discarded')
    await a.page.getByRole('button', { name: 'Sign out' }).click()
    await dialog.getByRole('button', { name: 'Sign out and discard' }).click()
    await a.page.locator('#login-title').waitFor()
    await until(async () => (await localCopies(a.page)).length === 0, 'the local copies are deleted')
    await a.context.setOffline(false)
    // The cookie the page cannot clear still names a live session until the server hears of the sign-out.
    await until(
      async () => ((await (await a.context.request.get('/api/auth/session')).json()) as { user: unknown }).user === null,
      'the session ended on the server',
    )
    expect((await alice.request('GET', `/api/records/leads/${id}`)).body.source).toBe('kept offline')
    await a.context.close()
  })

  it('a signed-out page load logs no console error and gets no failed or 4xx response', async () => {
    const context = await e2e.browser.newContext({ baseURL: e2e.server.url })
    const page = await context.newPage()
    const problems: string[] = []
    page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`))
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    page.on('requestfailed', (request) => problems.push(`failed: ${request.url()}`))
    page.on('response', (response) => response.status() >= 400 && problems.push(`${response.status()}: ${response.url()}`))
    await page.goto('/')
    await page.locator('#login-title').waitFor()
    await page.waitForLoadState('networkidle')
    expect(problems).toEqual([])
    await context.close()
  })

  it('an export started in one tab finishes in another tab of the same user, and its file downloads', async () => {
    const a = await e2e.signedIn('alice@demo.test', '/exports')
    const other = await a.context.newPage()
    await other.goto('/exports')
    await other.locator('#exports-title').waitFor()
    await a.page.getByRole('button', { name: /Export to CSV/ }).click()
    const row = other.locator('tr[data-job-id][data-status=succeeded]').first()
    await row.waitFor()
    await other.locator('.toast', { hasText: 'CSV export finished' }).waitFor()
    const [download] = await Promise.all([other.waitForEvent('download'), row.getByRole('link', { name: 'Download' }).click()])
    const file = await download.path()
    expect(readFileSync(file).length).toBeGreaterThan(0)
    await a.context.close()
  })
})
