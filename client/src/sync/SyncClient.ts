/**
 * The signed-in user's open documents: one {@link DocConnection} per document name,
 * shared by every component that uses it and closed when the last one lets go.
 * `close()` (logout, session ended) closes every provider at once.
 */
import type { ServerNotice } from '../../../shared/protocol.js'
import { type ConnectionStatus, DocConnection } from './DocConnection.js'

/** How long an unused document stays open, so navigating back is instant. @default 5000 ms */
const RELEASE_GRACE_MS = 5_000

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
  private closed = false
  /** localStorage key of the documents with local edits the server has not acknowledged. */
  private readonly unsyncedKey: string

  constructor(
    readonly userId: string,
    private readonly onSessionEnded: () => void,
  ) {
    this.unsyncedKey = `accord:unsynced:${userId}`
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

  // Other tabs of the user share the list: re-read it before each change.
  private handleLocalEdit = (docName: string): void => {
    const list = new Set(readList(this.unsyncedKey))
    if (list.has(docName)) return
    list.add(docName)
    writeList(this.unsyncedKey, list)
  }

  private handleSaved = (docName: string): void => {
    const list = new Set(readList(this.unsyncedKey))
    if (!list.delete(docName)) return
    writeList(this.unsyncedKey, list)
  }

  /** Opens (or shares) `docName`. Call the returned function to let go. */
  acquire(docName: string): { connection: DocConnection; release: () => void } {
    if (this.closed) throw new Error('sync client is closed')
    let entry = this.entries.get(docName)
    if (!entry) {
      const isRecord = !docName.includes('/index/') && !docName.includes('/inbox/')
      const connection = new DocConnection({
        docName,
        userId: this.userId,
        notices: isRecord,
        persist: true,
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
    entry.connection.destroy()
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

  /** Subscribes to rejection notices of one document. */
  onNotice(docName: string, listener: (notice: ServerNotice) => void): () => void {
    const entry = this.entries.get(docName)
    return entry ? entry.connection.onNotice(listener) : () => undefined
  }

  private emit = (): void => {
    for (const listener of this.listeners) listener()
  }

  /** Closes every provider; nothing is received after this returns. */
  close(): void {
    this.closed = true
    for (const entry of this.entries.values()) {
      if (entry.releaseTimer) clearTimeout(entry.releaseTimer)
      entry.connection.destroy()
    }
    this.entries.clear()
    this.emit()
    this.listeners.clear()
  }
}

function readList(key: string): string[] {
  try {
    const value = JSON.parse(localStorage.getItem(key) ?? '[]') as unknown
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

function writeList(key: string, values: Set<string>): void {
  localStorage.setItem(key, JSON.stringify([...values]))
}
