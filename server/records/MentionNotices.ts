/**
 * After a commit: tells users they were mentioned in a record's notes. A mention is text
 * carrying `mention: <user id>` (shared/richText.ts); the gate has already refused mentions of
 * anyone outside the workspace, so what is still in the document here was accepted.
 *
 * Each mentioned user is notified once per record while the record stays loaded: the
 * keystrokes that follow, an undo and redo of the mention, or the same person mentioned again
 * do not notify them again. A mention that was already in the notes when the record loaded
 * notifies nobody; one added after it is unloaded and loaded again does. Mentioning yourself
 * notifies no one. One author notifies one user at most MENTION_NOTICES_BURST times at once,
 * then MENTION_NOTICES_PER_HOUR (LIMITS): mentions past that stay in the notes unannounced.
 */
import * as Y from 'yjs'
import { recordTitle } from '../../shared/collections.js'
import { INBOX_NOTIFICATIONS, NOTES, notesOf, readFields } from '../../shared/docLayout.js'
import { inboxDocName } from '../../shared/docNames.js'
import { LIMITS, type Limits } from '../../shared/protocol.js'
import type { MentionNotification } from '../../shared/richText.js'
import { appendNotification } from '../documents/inboxNotifications.js'
import type { AccordRegistry, AccordRoom } from '../documents/types.js'
import { TokenBucket } from '../limits/TokenBucket.js'
import type { PendingUpdate } from '../sync/Room.js'
import { serverOrigin } from '../sync/types.js'

export interface MentionNoticesDeps {
  registry: AccordRegistry
  userName: (userId: string) => string
  onError: (error: unknown, context: string) => void
  /** @default LIMITS */
  limits?: Partial<Pick<Limits, 'MENTION_NOTICES_BURST' | 'MENTION_NOTICES_PER_HOUR'>>
}

/** Past this many author and user pairs, the budgets that are full again are forgotten. */
const KEPT_BUDGETS = 10_000

export class MentionNotices {
  /** Per loaded record document: the users already notified. */
  private readonly notified = new WeakMap<Y.Doc, Set<string>>()
  /** Appends a notification to an inbox document: a call, run where that inbox is owned. */
  private readonly append: (docName: string, notification: MentionNotification) => Promise<void>
  /** Per workspace, author and mentioned user: what is left of the author's mention budget. */
  private readonly budgets = new Map<string, TokenBucket>()
  private readonly burst: number
  private readonly perSecond: number

  constructor(private readonly deps: MentionNoticesDeps) {
    const limits = { ...LIMITS, ...deps.limits }
    this.burst = limits.MENTION_NOTICES_BURST
    this.perSecond = limits.MENTION_NOTICES_PER_HOUR / 3600
    this.append = deps.registry.defineCall('inbox.mention', (inbox, notification: MentionNotification) => {
      inbox.doc.transact(
        () => appendNotification(inbox.doc.getArray<MentionNotification>(INBOX_NOTIFICATIONS), notification),
        serverOrigin('inbox'),
      )
    })
  }

  handleCommitted(room: AccordRoom, updates: PendingUpdate[]): void {
    const name = room.name
    if (name.kind !== 'record') return
    let notified = this.notified.get(room.doc)
    for (const update of updates) {
      const author = update.author
      if (author === null || !update.changed.includes(NOTES)) continue
      for (const userId of mentionsIn(room.doc, update.update)) {
        if (userId === author) continue
        if (!notified) this.notified.set(room.doc, (notified = new Set()))
        if (notified.has(userId)) continue
        notified.add(userId)
        if (!this.budgetOf(name.workspace, author, userId).take()) continue
        const title = recordTitle(name.collection, readFields(room.doc, name.collection))
        const by = { id: author, name: this.deps.userName(author) }
        this.notify(name.workspace, userId, {
          id: `mention:${name.collection}/${name.id}:${author}:${Date.now()}`,
          at: new Date().toISOString(),
          kind: 'mention',
          collection: name.collection,
          recordId: name.id,
          title,
          path: `/${name.collection}/${name.id}`,
          by,
          message: `${by.name} mentioned you in ${title}`,
        })
      }
    }
  }

  private budgetOf(workspace: string, author: string, userId: string): TokenBucket {
    const key = JSON.stringify([workspace, author, userId])
    let budget = this.budgets.get(key)
    if (!budget) {
      if (this.budgets.size >= KEPT_BUDGETS) {
        for (const [k, b] of this.budgets) if (b.msUntil(this.burst) === 0) this.budgets.delete(k)
      }
      budget = new TokenBucket(this.perSecond, this.burst)
      this.budgets.set(key, budget)
    }
    return budget
  }

  private notify(workspace: string, userId: string, notification: MentionNotification): void {
    this.append(inboxDocName(workspace, userId), notification).catch((error: unknown) => this.deps.onError(error, 'mention notification'))
  }
}

/** The users mentioned by format marks an update added to the notes that are still in place. */
export function mentionsIn(doc: Y.Doc, update: Uint8Array): Set<string> {
  const notes = notesOf(doc)
  const users = new Set<string>()
  // A format's key is written as its UTF-8 bytes: an update without them (nearly every
  // keystroke) holds no mention and is not decoded again.
  if (Buffer.from(update.buffer, update.byteOffset, update.byteLength).indexOf(MENTION_KEY) < 0) return users
  for (const struct of Y.decodeUpdate(update).structs) {
    if (!(struct instanceof Y.Item) || !(struct.content instanceof Y.ContentFormat) || struct.content.key !== 'mention') continue
    const live = liveItem(doc, struct.id)
    if (live?.parent !== notes || !(live.content instanceof Y.ContentFormat)) continue
    const value: unknown = live.content.value
    if (typeof value === 'string') users.add(value)
  }
  return users
}

const MENTION_KEY = Buffer.from('mention')

function liveItem(doc: Y.Doc, id: Y.ID): Y.Item | null {
  const structs = doc.store.clients.get(id.client)
  if (!structs || id.clock >= Y.getState(doc.store, id.client)) return null
  const struct = structs[Y.findIndexSS(structs, id.clock)]
  return struct instanceof Y.Item && !struct.deleted ? struct : null
}
