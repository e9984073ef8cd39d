/**
 * The calendar and the command palette in real headless Chromium against the real server:
 * all 24 hours reachable, day/week/month views, the time zone moving the blocks, a conflict
 * that names who clashed and offers Retry once the slot is free, and the palette finding a
 * record by a word of its notes.
 */
import { join } from 'node:path'
import type { Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dayOf, HOUR_PX, startOfWeek, toZonedInput, zonedInstant } from '../../client/src/calendarMath.js'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { type Api, login, until } from '../helpers/server.js'
import { type E2E, SCREENSHOTS, startE2E } from './browser.js'

let e2e: E2E
let alice: Api
let bob: Api

beforeAll(async () => {
  e2e = await startE2E()
  alice = await login(e2e.server.url, 'alice@demo.test', DEMO_PASSWORD)
  bob = await login(e2e.server.url, 'bob@demo.test', DEMO_PASSWORD)
})

afterAll(async () => {
  await e2e?.close()
})

/** Whether any of `block` shows inside the scrolling grid, below its sticky day header. */
async function inView(page: Page, block: Locator): Promise<boolean> {
  const grid = page.getByTestId('time-grid')
  const [box, area, head] = await Promise.all([block.boundingBox(), grid.boundingBox(), grid.locator('.week-head').boundingBox()])
  if (!box || !area || !head) return false
  return box.y + box.height > head.y + head.height && box.y < area.y + area.height
}

async function reservationStatus(id: string): Promise<string | undefined> {
  const res = await alice.request('GET', `/api/records/events/${id}`)
  return res.body.reservation?.status as string | undefined
}

const iso = (ms: number) => new Date(ms).toISOString()

/** An hour-long event of Alice's starting at `start` (ms), created over REST: its id. */
async function aliceEvent(title: string, start: number): Promise<string> {
  const created = await alice.request('POST', '/api/records/events', {
    title,
    start: iso(start),
    end: iso(start + 3_600_000),
    attendees: [alice.userId],
  })
  expect(created.status).toBe(201)
  return created.body.id as string
}

describe('calendar (Chromium)', () => {
  it('an event at 05:00 is reached by scrolling the grid; day, week and month views; a time zone moves the blocks and is remembered', async () => {
    const tokyo = 'Asia/Tokyo'
    const wednesday = startOfWeek(dayOf(Date.now(), tokyo)) + 2
    const start = zonedInstant(wednesday, 5 * 60, tokyo)
    const id = await aliceEvent('Early call', start)
    const { context, page } = await e2e.signedIn('alice@demo.test', '/calendar')
    try {
      await page.locator('select[name=timezone]').selectOption(tokyo)
      await page.getByRole('button', { name: 'Today' }).click()
      const block = page.locator(`.event-block[data-event-id="${id}"]`)
      await page.locator(`.event-block[data-event-id="${id}"][data-status=confirmed]`).waitFor({ state: 'attached' })
      // The grid opens at the working day: 05:00 is above it, and scrolling up reaches it.
      expect(await page.getByTestId('time-grid').evaluate((el) => el.scrollTop)).toBeGreaterThan(0)
      expect(await inView(page, block)).toBe(false)
      await page.getByTestId('time-grid').hover()
      await page.mouse.wheel(0, -10 * HOUR_PX)
      await until(() => inView(page, block), 'the 05:00 event scrolled into view')
      expect(await block.evaluate((el) => (el as HTMLElement).offsetTop)).toBe(5 * HOUR_PX)
      await page.screenshot({ path: join(SCREENSHOTS, 'calendar-early-hours.png') })

      // Another zone: the same instant is 04:00 in Shanghai, the block moves up an hour.
      await page.locator('select[name=timezone]').selectOption('Asia/Shanghai')
      await until(async () => (await block.evaluate((el) => (el as HTMLElement).offsetTop)) === 4 * HOUR_PX, 'the block at 04:00')
      expect(await block.getAttribute('aria-label')).toMatch(/^Early call, 0?4:00/)

      // Remembered for this user in this browser.
      await page.reload()
      await page.locator('select[name=timezone]').waitFor()
      expect(await page.locator('select[name=timezone]').inputValue()).toBe('Asia/Shanghai')
      await page.locator('select[name=timezone]').selectOption(tokyo)
      await page.getByRole('button', { name: 'Today' }).click()

      // Day, week, month.
      const grid = page.getByTestId('time-grid')
      expect(await grid.getAttribute('data-days')).toBe('7')
      await page.getByRole('button', { name: 'Day', exact: true }).click()
      await page.locator('[data-testid=time-grid][data-days="1"]').waitFor()
      await page.getByRole('button', { name: 'Month', exact: true }).click()
      const chip = page.locator(`.month-event[data-event-id="${id}"]`)
      await chip.waitFor()
      expect(await page.getByTestId('time-grid').count()).toBe(0)
      await page.screenshot({ path: join(SCREENSHOTS, 'calendar-month.png') })
      // The event's day, opened from the month: a one-day grid with the event.
      await chip.locator('xpath=..').locator('.month-date').click()
      await page.locator('[data-testid=time-grid][data-days="1"]').waitFor()
      await block.waitFor({ state: 'attached' })
      await page.getByRole('button', { name: 'Week', exact: true }).click()
      await page.locator('[data-testid=time-grid][data-days="7"]').waitFor()
      await page.screenshot({ path: join(SCREENSHOTS, 'calendar-week.png') })
    } finally {
      await alice.request('DELETE', `/api/records/events/${id}`)
      await context.close()
    }
  })

  it('the event page and the Events list show times on the calendar’s zone, not the device’s, and a time typed there is read on it', async () => {
    const tokyo = 'Asia/Tokyo'
    const start = zonedInstant(startOfWeek(dayOf(Date.now(), tokyo)) + 9, 5 * 60, tokyo)
    const id = await aliceEvent('Zoned call', start)
    const { context, page } = await e2e.signedIn('alice@demo.test', '/calendar')
    try {
      // This browser's own zone is not Tokyo's (05:00 there is another hour here).
      expect(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone)).not.toBe(tokyo)
      await page.locator('select[name=timezone]').selectOption(tokyo)
      await page.goto(`/events/${id}`)
      const startInput = page.locator('[name=start]')
      await expect.poll(() => startInput.inputValue()).toBe(toZonedInput(start, tokyo))
      expect(await page.locator('.field', { has: startInput }).locator('label').innerText()).toContain('GMT+9')
      // 07:00 typed on Tokyo's clock ends the event two hours after its start.
      await page.locator('[name=end]').fill(toZonedInput(start + 2 * 3_600_000, tokyo))
      await until(
        async () => (await alice.request('GET', `/api/records/events/${id}`)).body.end === iso(start + 2 * 3_600_000),
        'the end saved',
      )
      // The list says 05:00 too.
      await page.goto('/events')
      await expect.poll(() => page.locator(`tr[data-record-id="${id}"]`).innerText()).toMatch(/\b05:00\b/)
      // …whole: the column is wide enough for the day and the time.
      const startCell = page.locator(`tr[data-record-id="${id}"] td`).filter({ hasText: /\b05:00\b/ })
      expect(await startCell.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true)
    } finally {
      await alice.request('DELETE', `/api/records/events/${id}`)
      await context.close()
    }
  })

  it('a conflict names the attendee who is booked and the room that is taken; once the slot is free, Retry books it', async () => {
    const day = Math.floor(Date.now() / 86_400_000) + 3
    const at = (hour: number) => iso(day * 86_400_000 + hour * 3_600_000)
    const first = await alice.request('POST', '/api/records/events', {
      title: 'Q3 review',
      start: at(10),
      end: at(11),
      attendees: [bob.userId],
      room: 'Atlas',
    })
    const firstId = first.body.id as string
    await until(async () => (await reservationStatus(firstId)) === 'confirmed', 'Q3 review confirmed')
    const second = await alice.request('POST', '/api/records/events', {
      title: 'Pricing call',
      start: at(10),
      end: at(11),
      attendees: [alice.userId, bob.userId],
      room: 'Atlas',
    })
    const secondId = second.body.id as string
    await until(async () => (await reservationStatus(secondId)) === 'conflict', 'Pricing call in conflict')
    const { context, page } = await e2e.signedIn('alice@demo.test', `/events/${secondId}`)
    try {
      const clashes = page.getByTestId('clashes')
      await clashes.waitFor()
      const words = (await clashes.textContent()) ?? ''
      expect(words).toContain("Bob Baker is booked in 'Q3 review'")
      expect(words).toContain('room Atlas is taken')
      expect(words).not.toContain('collides')
      expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0)
      // The room is picked from the calendar's list, here as in the dialog.
      const room = page.locator('select[name=room]')
      expect(await room.inputValue()).toBe('Atlas')
      expect(await room.locator('option').allInnerTexts()).toEqual(expect.arrayContaining(['Atlas', 'Borealis', 'Cosmos', 'Delta']))
      await page.screenshot({ path: join(SCREENSHOTS, 'event-conflict-names.png') })

      // The booking in the way is cancelled: the slot is free, and Retry takes it.
      await alice.request('PATCH', `/api/records/events/${firstId}`, { status: 'cancelled' })
      await page.getByTestId('slot-free').waitFor()
      await page.getByRole('button', { name: 'Retry' }).click()
      await page.locator('[data-testid=reservation][data-status=confirmed]').waitFor()
      expect(await reservationStatus(secondId)).toBe('confirmed')
    } finally {
      for (const id of [firstId, secondId]) await alice.request('DELETE', `/api/records/events/${id}`)
      await context.close()
    }
  })

  it('the event page changes the room through the same list, and the change is saved', async () => {
    const start = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 20 * 86_400_000
    const created = await alice.request('POST', '/api/records/events', {
      title: 'Room move',
      start: iso(start),
      end: iso(start + 1_800_000),
      room: 'Delta',
    })
    const id = created.body.id as string
    const { context, page } = await e2e.signedIn('alice@demo.test', `/events/${id}`)
    try {
      const room = page.locator('select[name=room]')
      await until(async () => (await room.inputValue()) === 'Delta', 'the room shown')
      await room.selectOption('Cosmos')
      await until(async () => (await alice.request('GET', `/api/records/events/${id}`)).body.room === 'Cosmos', 'the room saved')
    } finally {
      await alice.request('DELETE', `/api/records/events/${id}`)
      await context.close()
    }
  })
})

describe('command palette (Chromium)', () => {
  it('Ctrl-K finds a customer by a word in its notes and opens it; a command goes to the calendar', async () => {
    const created = await alice.request('POST', '/api/records/customers', {
      name: 'Fjordline Shipping',
      notes: 'Met at the harbour fair. Interested in the zanzibarite cargo tracking add-on.',
    })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    const { context, page } = await e2e.signedIn('alice@demo.test', '/board')
    try {
      const searches: string[] = []
      page.on('request', (request) => {
        const { pathname, searchParams } = new URL(request.url())
        if (pathname === '/api/search' || (pathname.startsWith('/api/records/') && searchParams.has('q'))) searches.push(pathname)
      })
      await page.keyboard.press('Control+k')
      const palette = page.getByTestId('command-palette')
      await palette.waitFor()
      await page.keyboard.type('zanzibarite')
      const hit = palette.getByTestId('palette-record').filter({ hasText: 'Fjordline Shipping' })
      await hit.waitFor()
      expect(await hit.textContent()).toContain('in notes:')
      // One request per pause in typing, for every collection at once.
      expect(searches.length).toBeGreaterThan(0)
      expect(new Set(searches)).toEqual(new Set(['/api/search']))
      await hit.locator('xpath=self::*[@data-selected="true"]').waitFor()
      await page.screenshot({ path: join(SCREENSHOTS, 'command-palette.png') })
      await page.keyboard.press('Enter')
      await page.waitForURL(`**/customers/${id}`)
      await palette.waitFor({ state: 'detached' })
      // The form shows before the record's first sync fills it.
      await expect.poll(() => page.locator('[name=name]').inputValue()).toBe('Fjordline Shipping')

      // A navigation command, opened from the top bar this time.
      await page.getByRole('button', { name: /Search or jump to/ }).click()
      await page.keyboard.type('calend')
      await palette.getByRole('option', { name: 'Calendar' }).waitFor()
      await page.keyboard.press('Enter')
      await page.waitForURL('**/calendar')
      await page.locator('#calendar-title').waitFor()
    } finally {
      await alice.request('DELETE', `/api/records/customers/${id}`)
      await context.close()
    }
  })
})
