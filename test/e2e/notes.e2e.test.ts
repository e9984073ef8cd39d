/**
 * Rich-text notes and undo in real Chromium: formatting typed in one tab shows formatted in
 * another as it is typed, with the typist's named cursor, while REST and CSV exports keep the
 * plain text; an @mention notifies the mentioned user; a format a raw Yjs client sends that the
 * server refuses is reverted in the browser too; Ctrl-Z takes back only your own edits.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { notesOf as notesText } from '../../shared/docLayout.js'
import { DEMO_PASSWORD } from '../../server/seed/demo.js'
import { finished } from '../helpers/jobs.js'
import { type Api, login, provider, synced, until } from '../helpers/server.js'
import { captureNotices } from '../helpers/trust.js'
import { type E2E, recordId, startE2E } from './browser.js'

let e2e: E2E
let alice: Api
const started = startE2E()
beforeAll(async () => {
  e2e = await started
  alice = await login(e2e.server.url, 'alice@demo.test', DEMO_PASSWORD)
})
afterAll(() => started.then((app) => app.close()))

const editorOf = (page: Page) => page.locator('[data-testid=notes-editor] .ql-editor')
const notesShown = async (page: Page) => (await editorOf(page).textContent()) ?? ''

/** Puts the caret at the end of the notes. */
async function typeAtEnd(page: Page, text: string): Promise<void> {
  await editorOf(page).click()
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text)
}

describe('rich-text notes (Chromium)', () => {
  it('bold, a list and a link typed in one tab appear formatted in another as they are typed, with the typist’s named cursor; REST and CSV read plain text', async () => {
    const id = await recordId(alice, 'customers', 'Globex')
    const a = await e2e.signedIn('alice@demo.test', `/customers/${id}`)
    const b = await e2e.signedIn('bob@demo.test', `/customers/${id}`)
    for (const { page } of [a, b]) await page.locator('[data-status=saved]').waitFor()
    await typeAtEnd(a.page, '\n- Call ')
    await a.page.keyboard.press('Control+b')
    await a.page.keyboard.type('today')
    await a.page.keyboard.press('Control+b')
    await a.page.keyboard.type('\n\nSite')
    for (let i = 0; i < 4; i++) await a.page.keyboard.press('Shift+ArrowLeft')
    await a.page.locator('[data-testid=notes-editor] .ql-toolbar .ql-link').click()
    await a.page.locator('[data-testid=notes-editor] .ql-tooltip input').fill('example.com')
    await a.page.keyboard.press('Enter')
    await editorOf(a.page).click()
    await a.page.keyboard.press('Control+End')

    await b.page.locator('[data-testid=notes-editor] li[data-list=bullet] strong', { hasText: 'today' }).waitFor()
    await b.page.locator('[data-testid=notes-editor] a[href="https://example.com"]', { hasText: 'Site' }).waitFor()
    await b.page.locator('[data-testid=notes-editor] .ql-cursor-name', { hasText: 'Alice Archer' }).waitFor({ state: 'attached' })
    await a.page.locator('[data-status=saved]').waitFor()

    const { body } = await alice.request('GET', `/api/records/customers/${id}`)
    expect(body.notes).toContain('Call today\nSite')
    expect(body.notes).not.toMatch(/<|\*\*|https:\/\/example\.com/)
    const job = await alice.request('POST', '/api/exports', { target: 'csv', collections: ['customers'] })
    expect((await finished(alice, `/api/exports/${job.body.id}`)).status).toBe('succeeded')
    const csv = await (
      await fetch(`${e2e.server.url}/api/exports/${job.body.id}/file`, { headers: { authorization: `Bearer ${alice.token}` } })
    ).text()
    expect(csv).toContain('Call today\nSite')
    expect(csv).not.toMatch(/<strong>|<a |data-list/)
    await a.context.close()
    await b.context.close()
  })

  it('an @mention picked from the list is “@Name” in the notes and notifies the mentioned user in every tab of theirs', async () => {
    const id = await recordId(alice, 'customers', 'Initech')
    const bob = await login(e2e.server.url, 'bob@demo.test', DEMO_PASSWORD)
    const a = await e2e.signedIn('alice@demo.test', `/customers/${id}`)
    const b = await e2e.signedIn('bob@demo.test', '/customers')
    await a.page.locator('[data-status=saved]').waitFor()
    await b.page.locator('[data-status=saved]').waitFor()
    await typeAtEnd(a.page, ' Ask @Bo')
    await a.page.locator('.ql-mention-list-item', { hasText: 'Bob Baker' }).click()
    await a.page.keyboard.type('for the quote.')
    await editorOf(a.page).locator(`.mention[data-user-id="${bob.userId}"]`, { hasText: '@Bob Baker' }).waitFor()
    // The toast links to the record.
    await b.page.locator('.toast a', { hasText: 'Alice Archer mentioned you in Initech' }).click()
    await editorOf(b.page).locator(`.mention[data-user-id="${bob.userId}"]`).waitFor()
    await until(
      async () =>
        ((await alice.request('GET', `/api/records/customers/${id}`)).body.notes as string).endsWith('Ask @Bob Baker for the quote.'),
      'the plain text of the mention over REST',
    )
    await a.context.close()
    await b.context.close()
  })

  it('a javascript: link and an unknown format sent by a raw Yjs client are reverted in the browser too, and the sender is told', async () => {
    const id = await recordId(alice, 'leads', 'Hooli')
    const a = await e2e.signedIn('alice@demo.test', `/leads/${id}`)
    await a.page.locator('[data-status=saved]').waitFor()
    const carol = await login(e2e.server.url, 'carol@demo.test', DEMO_PASSWORD)
    const raw: WebsocketProvider = provider(e2e.server.wsUrl, `demo/leads/${id}`, carol.token, { params: { notices: '1' } })
    const notices = captureNotices(raw)
    try {
      await synced(raw)
      const notes = notesText(raw.doc)
      raw.doc.transact(() => {
        notes.insert(0, 'Evil ', { link: 'javascript:alert(1)' })
        notes.insert(5, 'Odd ', { color: 'red' })
        notes.insert(9, 'Fine ', { bold: true })
      })
      await until(() => notices.length > 0, 'the raw client told')
      expect(JSON.stringify(notices)).toContain('a link is an http(s) or mailto address')
      expect(JSON.stringify(notices)).toContain('notes may not hold the format \\"color\\"')
      await editorOf(a.page).locator('strong', { hasText: 'Fine' }).waitFor()
      await a.page.waitForFunction(() => {
        const editor = document.querySelector('[data-testid=notes-editor] .ql-editor')
        return editor?.textContent?.startsWith('Evil Odd Fine') === true && editor.querySelector('a, [style*="color"]') === null
      })
    } finally {
      raw.destroy()
    }
    await a.context.close()
  })

  it('Ctrl-Z takes back your own last edits, in the notes and the fields, while another user’s concurrent edit stays', async () => {
    const id = await recordId(alice, 'customers', 'Acme Corp')
    const a = await e2e.signedIn('alice@demo.test', `/customers/${id}`)
    const b = await e2e.signedIn('bob@demo.test', `/customers/${id}`)
    for (const { page } of [a, b]) await page.locator('[data-status=saved]').waitFor()
    const phone = await a.page.locator('[name=phone]').inputValue()
    await a.page.locator('[name=phone]').fill('+1 555 0100')
    await editorOf(b.page).click()
    await b.page.keyboard.press('Control+Home')
    await Promise.all([typeAtEnd(a.page, ' Mine.'), b.page.keyboard.type('Theirs. ', { delay: 5 })])
    for (const { page } of [a, b]) {
      await page.waitForFunction(() => {
        const text = document.querySelector('[data-testid=notes-editor] .ql-editor')?.textContent ?? ''
        return text.includes(' Mine.') && text.startsWith('Theirs. ')
      })
    }
    await a.page.keyboard.press('Control+z')
    for (const { page } of [a, b]) {
      await page.waitForFunction(() => {
        const text = document.querySelector('[data-testid=notes-editor] .ql-editor')?.textContent ?? ''
        return !text.includes(' Mine.') && text.startsWith('Theirs. ')
      })
    }
    await a.page.keyboard.press('Control+z')
    await b.page.waitForFunction((was) => (document.querySelector('[name=phone]') as HTMLInputElement).value === was, phone)
    expect(await notesShown(b.page)).toMatch(/^Theirs\. /)
    // Redo brings the notes edit back.
    await a.page.keyboard.press('Control+Shift+z')
    await a.page.keyboard.press('Control+Shift+z')
    await b.page.waitForFunction(() =>
      (document.querySelector('[data-testid=notes-editor] .ql-editor')?.textContent ?? '').includes(' Mine.'),
    )
    await a.page.locator('[data-status=saved]').waitFor()
    const { body } = await alice.request('GET', `/api/records/customers/${id}`)
    expect(body.notes).toMatch(/^Theirs\. .* Mine\.$/s)
    await a.context.close()
    await b.context.close()
  })
})
