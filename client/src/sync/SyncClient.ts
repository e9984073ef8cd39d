/**
 * The signed-in user's open documents: one {@link DocConnection} per document name,
 * shared by every component that uses it and closed when the last one lets go.
 * `flush()` (before sign-out) delivers what the server lacks; `close()` (sign-out,
 * session ended) closes every provider at once.
 */
import type { ServerNotice } from '../../../shared/protocol.js'
import { type ConnectionStatus, DocConnection } from './DocConnection.js'
import { rememberLocalCopy, unsyncedKey } from './localCopies.js'
import { addToList, readList, removeFromList } from './storedLists.js'

/** How long an unused document stays open, so navigating back is instant. @default 5000 ms */
const RELEASE_GRACE_MS = 5_000
/**
 * Longest wait at sign-out for the server to acknowledge the last edits; past it the
 * user is asked whether to discard them. Offline, there is no wait at all.
 * @default 8000 ms
 */
export const SIGN_OUT_FLUSH_MS = 8_000

interface Entry {
  connection: DocConnection
  refs: number
  releaseTimer: ReturnType<typeof setTimeout> | null
}

/** Overall state shown by the connection indicator. */
export type OverallStatus = ConnectionStatus | 'online'

export class SyncClient {
  private readonly entries = new Map<string, Entry>()
  private readonly listeners = new Set<() => void>()
  private closing: Promise<void> | null = null
  /** localStorage key of the documents with local edits the server has not acknowledged. */
  private readonly unsyncedKey: string

  constructor(
    readonly userId: string,
    private readonly onSessionEnded: () => void,
    /** A viewer's client: see {@link DocConnectionOptions.readOnly}. */
    private readonly readOnly = false,
  ) {
    this.unsyncedKey = unsyncedKey(userId)
    // Edits made offline in a document nobody has open any more still go to the server:
    // open each such document in the background until the server has them on disk.
    for (const docName of readList(this.unsyncedKey)) this.flushInBackground(docName)
  }

  private flushInBackground(docName: string): void {
    const { connection, release } = this.acquire(docName)
    connection.markUnsaved()
    const stop = connection.subscribe(() => {
      if (connection.unsaved) return
      stop()
      release()
    })
  }

  // Other tabs of the user share the list.
  private handleLocalEdit = (docName: string): void => {
    addToList(this.unsyncedKey, docName)
  }

  private handleSaved = (docName: string): void => {
    removeFromList(this.unsyncedKey, docName)
  }

  /** Opens (or shares) `docName`. Call the returned function to let go. */
  acquire(docName: string): { connection: DocConnection; release: () => void } {
    if (this.closing) throw new Error('sync client is closed')
    let entry = this.entries.get(docName)
    if (!entry) {
      rememberLocalCopy(this.userId, docName)
      const isRecord = !docName.includes('/index/') && !docName.includes('/inbox/')
      const connection = new DocConnection({
        docName,
        userId: this.userId,
        notices: isRecord,
        persist: true,
        readOnly: this.readOnly,
        onSessionEnded: this.onSessionEnded,
        onLocalEdit: this.handleLocalEdit,
        onSaved: this.handleSaved,
      })
      connection.subscribe(this.emit)
      entry = { connection, refs: 0, releaseTimer: null }
      this.entries.set(docName, entry)
      this.emit()
    }
    if (entry.releaseTimer) clearTimeout(entry.releaseTimer)
    entry.releaseTimer = null
    entry.refs++
    const current = entry
    let released = false
    return {
      connection: current.connection,
      release: () => {
        if (released) return
        released = true
        current.refs--
        if (current.refs === 0) current.releaseTimer = setTimeout(() => this.drop(docName, current), RELEASE_GRACE_MS)
      },
    }
  }

  private drop(docName: string, entry: Entry): void {
    if (entry.refs > 0 || this.entries.get(docName) !== entry) return
    if (entry.connection.unsaved) {
      // Not on the server yet (offline?): keep it open in the background until it is.
      this.entries.delete(docName)
      this.flushLater(docName, entry)
      return
    }
    this.entries.delete(docName)
    void entry.connection.destroy()
    this.emit()
  }

  private flushLater(docName: string, entry: Entry): void {
    this.entries.set(docName, entry)
    entry.refs++
    const stop = entry.connection.subscribe(() => {
      if (entry.connection.unsaved) return
      stop()
      entry.refs--
      if (entry.refs === 0) this.drop(docName, entry)
    })
  }

  /** The worst status of all open documents. */
  status(): OverallStatus {
    if (!navigator.onLine) return 'offline'
    const statuses = [...this.entries.values()].map((e) => e.connection.status)
    if (statuses.includes('offline')) return 'offline'
    if (statuses.includes('syncing')) return 'syncing'
    return statuses.length > 0 ? 'saved' : 'online'
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Subscribes to the notices of one document. */
  onNotice(docName: string, listener: (notice: ServerNotice) => void): () => void {
    const entry = this.entries.get(docName)
    return entry ? entry.connection.onNotice(listener) : () => undefined
  }

  private emit = (): void => {
    for (const listener of this.listeners) listener()
  }

  /** The open document `docName`, if this tab has it open. */
  documentOf(docName: string): DocConnection | null {
    return this.entries.get(docName)?.connection ?? null
  }

  /** Documents whose edits are not known to be on the server: open here, or listed by any tab of the user. */
  unsentDocuments(): string[] {
    const open = [...this.entries].filter(([, entry]) => entry.connection.unsaved).map(([docName]) => docName)
    return [...new Set([...open, ...readList(this.unsyncedKey)])]
  }

  /**
   * Delivers every edit of the user that the server has not acknowledged — this tab's, and
   * those other tabs and earlier pages left in IndexedDB — and resolves with the documents
   * still holding unsent edits: at once when offline, else after at most `timeoutMs`. An
   * empty answer means signing out loses nothing.
   */
  async flush(timeoutMs = SIGN_OUT_FLUSH_MS): Promise<string[]> {
    for (const docName of this.unsentDocuments()) {
      const open = this.entries.get(docName)
      if (!open) this.flushInBackground(docName)
      else if (!open.connection.unsaved) open.connection.markUnsaved()
    }
    const pending = () => [...this.entries.values()].map((entry) => entry.connection).filter((connection) => connection.unsaved)
    // Each pending document is loaded first, so the caller can name it; then it waits only while one can still be delivered.
    const settled = () => pending().every((c) => c.loaded && (!navigator.onLine || c.closedCode !== null))
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs)
      const stop = this.subscribe(check)
      addEventListener('offline', check)
      check()
      function check() {
        if (settled()) finish()
      }
      function finish() {
        clearTimeout(timer)
        stop()
        removeEventListener('offline', check)
        resolve()
      }
    })
    return this.unsentDocuments()
  }

  /**
   * Closes every provider; nothing is received after this returns. Resolves when their
   * IndexedDB copies are closed too, so they can be deleted. Calling it again is harmless.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing
    const closed: Promise<void>[] = []
    for (const entry of this.entries.values()) {
      if (entry.releaseTimer) clearTimeout(entry.releaseTimer)
      closed.push(entry.connection.destroy())
    }
    this.entries.clear()
    this.emit()
    this.listeners.clear()
    this.closing = Promise.all(closed).then(() => undefined)
    return this.closing
  }
}
