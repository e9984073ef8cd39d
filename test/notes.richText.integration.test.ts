/**
 * Rich-text notes through real sockets (shared/richText.ts): the accepted formats stay and
 * REST still reads plain text; any other format, a `javascript:` link, a mention of someone
 * outside the workspace or an embed is reverted for everyone and the sender told; a mention
 * notifies the mentioned user in their inbox once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import { INBOX_NOTIFICATIONS, notesOf } from '../shared/docLayout.js'
import { inboxDocName } from '../shared/docNames.js'
import { linkOf, noteFormatIssue } from '../shared/richText.js'
import {
  type Api,
  type SeededUsers,
  type TestServer,
  login,
  provider,
  seedWorkspace,
  startServer,
  synced,
  until,
} from './helpers/server.js'
import { captureNotices, tracked } from './helpers/trust.js'
import { describeBackends } from './helpers/backends.js'

let t: TestServer
let users: SeededUsers
let outsider: string
let member: Api
let owner: Api
const open: WebsocketProvider[] = []

/** A stock provider of `api`'s user, with notices when asked; closed after the tests. */
const connect = (docName: string, api: Api, notices = false) =>
  tracked(open, provider(t.wsUrl, docName, api.token, notices ? { params: { notices: '1' } } : {}))

async function newDeal(notes: string): Promise<string> {
  const { status, body } = await owner.request('POST', '/api/records/deals', { title: 'Rich', notes })
  expect(status).toBe(201)
  return body.id as string
}

async function editors(id: string) {
  const sender = connect(`acme/deals/${id}`, member, true)
  const notices = captureNotices(sender)
  const other = connect(`acme/deals/${id}`, owner)
  await Promise.all([sender, other].map(synced))
  return { sender, notices, other }
}

/**
 * The notes as Quill reads them: adjacent inserts of the same attributes as one (a refused
 * format leaves its ending mark, a valid `null`, which splits the delta without changing it).
 */
function deltaOf(p: WebsocketProvider): string {
  const ops: { insert: unknown; attributes?: Record<string, unknown> }[] = []
  for (const op of notesOf(p.doc).toDelta() as { insert: unknown; attributes?: Record<string, unknown> }[]) {
    const last = ops.at(-1)
    if (
      last &&
      typeof last.insert === 'string' &&
      typeof op.insert === 'string' &&
      JSON.stringify(last.attributes) === JSON.stringify(op.attributes)
    )
      last.insert += op.insert
    else ops.push({ ...op })
  }
  return JSON.stringify(ops)
}
const notificationsOf = (doc: Y.Doc) =>
  doc.getArray<{ kind: string; recordId: string; by: { id: string }; path: string }>(INBOX_NOTIFICATIONS).toArray()

describe('note formats', () => {
  it('accepts the whitelist and refuses the rest', () => {
    for (const [key, value] of [
      ['bold', true],
      ['header', 2],
      ['list', 'bullet'],
      ['link', 'https://example.com/a?b=c'],
      ['link', 'mailto:a@example.com'],
      ['mention', 'u1'],
      ['italic', null],
    ] as const)
      expect(noteFormatIssue(key, value)).toBeNull()
    for (const [key, value] of [
      ['color', 'red'],
      ['bold', 'yes'],
      ['header', 4],
      ['list', 'checked'],
      ['link', 'javascript:alert(1)'],
      ['link', ' https://x'],
      ['link', 'data:text/html,x'],
      ['mention', 'u 1'],
      ['image', null],
    ] as const)
      expect(noteFormatIssue(key, value)).not.toBeNull()
    expect(noteFormatIssue('mention', 'u1', (id) => id === 'u2')).not.toBeNull()
  })

  it('a link typed without a scheme becomes a web or mailto address the server accepts; a typed scheme is kept (and judged)', () => {
    expect(linkOf(' example.com/a ')).toBe('https://example.com/a')
    expect(linkOf('bob@example.com')).toBe('mailto:bob@example.com')
    expect(linkOf('javascript:alert(1)')).toBe('javascript:alert(1)')
    expect(noteFormatIssue('link', linkOf('example.com'))).toBeNull()
  })
})

describeBackends('rich-text notes', (backend) => {
  beforeAll(async () => {
    t = await startServer(backend.options())
    users = await seedWorkspace(t.server)
    outsider = (await seedWorkspace(t.server, 'other')).member.id
    member = await login(t.url, users.member.email, users.member.password)
    owner = await login(t.url, users.owner.email, users.owner.password)
  })
  afterAll(async () => {
    open.splice(0).forEach((p) => p.destroy())
    await t.close()
  })

  it('[RT1] bold, a heading, a list, a link and a mention are kept for everyone; REST reads the plain text', async () => {
    const id = await newDeal('')
    const { sender, notices, other } = await editors(id)
    const notes = notesOf(sender.doc)
    sender.doc.transact(() => {
      notes.insert(0, 'Plan\n', {})
      notes.format(4, 1, { header: 2 })
      notes.insert(5, 'Call ', {})
      notes.insert(10, 'soon', { bold: true })
      notes.insert(14, '\n', { list: 'bullet' })
      notes.insert(15, 'Site', { link: 'https://example.com' })
      notes.insert(19, ' ask ', {})
      notes.insert(24, '@owner', { mention: users.owner.id })
    })
    const expected = deltaOf(sender)
    await until(() => deltaOf(other) === expected, 'the formatted notes at the other client')
    await t.server.registry.flushed()
    expect(notices).toEqual([])
    expect((await owner.request('GET', `/api/records/deals/${id}`)).body.notes).toBe('Plan\nCall soon\nSite ask @owner')
  })

  it('[RT2] a javascript: link, an unknown format, a mention of another workspace’s user and an embed are reverted for everyone; the sender is told', async () => {
    const id = await newDeal('hello world')
    const { sender, notices, other } = await editors(id)
    const notes = notesOf(sender.doc)
    sender.doc.transact(() => {
      notes.format(0, 5, { link: 'javascript:alert(1)' })
      notes.format(6, 5, { color: 'red' })
      notes.insert(11, ' @x', { mention: outsider })
      notes.insertEmbed(0, { image: 'https://example.com/x.png' })
      notes.format(0, 1, { bold: true })
    })
    await until(() => notices.length > 0, 'the sender told')
    const notice = notices[0]!
    expect(notice.type).toBe('rejected')
    const messages = notice.type === 'rejected' ? notice.issues.map((i) => i.message) : []
    expect(messages).toEqual(
      expect.arrayContaining([
        'a link is an http(s) or mailto address',
        'notes may not hold the format "color"',
        'a mention names a user of this workspace',
        'notes hold text and formatting only',
      ]),
    )
    const expected = JSON.stringify([{ insert: 'hello world @x' }])
    await until(() => deltaOf(sender) === expected && deltaOf(other) === expected, 'only the text stays, everywhere')
    await t.server.registry.flushed()
    expect((await owner.request('GET', `/api/records/deals/${id}`)).body.notes).toBe('hello world @x')
  })

  it('[RT3] a mention notifies the mentioned user in their inbox once: not again on the next keystrokes, nor when removed and added again', async () => {
    const id = await newDeal('')
    const { sender } = await editors(id)
    const inbox = connect(inboxDocName('acme', users.owner.id), owner)
    await synced(inbox)
    const before = notificationsOf(inbox.doc).length
    const notes = notesOf(sender.doc)
    notes.insert(0, '@owner', { mention: users.owner.id })
    await until(() => notificationsOf(inbox.doc).length === before + 1, 'the notification')
    const notification = notificationsOf(inbox.doc).at(-1)!
    expect(notification).toMatchObject({ kind: 'mention', recordId: id, by: { id: users.member.id }, path: `/deals/${id}` })
    notes.insert(6, ' please call', {})
    notes.delete(0, 6)
    notes.insert(0, '@owner', { mention: users.owner.id })
    // A mention of someone else, made after: when it has arrived, the earlier edits have been handled too.
    const member2 = connect(inboxDocName('acme', users.member2.id), await login(t.url, users.member2.email, users.member2.password))
    await synced(member2)
    notes.insert(0, '@member2 ', { mention: users.member2.id })
    await until(() => notificationsOf(member2.doc).some((n) => n.recordId === id), 'the second user notified')
    await t.server.registry.flushed()
    expect(notificationsOf(inbox.doc).filter((n) => n.recordId === id)).toHaveLength(1)
  })
})
