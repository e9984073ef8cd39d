/**
 * One open document: a Y.Doc, its y-websocket provider, its IndexedDB copy and its
 * connection status. Owned by a {@link SyncClient}, which reference-counts it.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { fieldsOf } from '../../../shared/docLayout.js'
import { CLOSE, MESSAGE, type ServerNotice } from '../../../shared/protocol.js'
import { ConflictMarkers } from './ConflictMarkers.js'
import { localCopyName } from './localCopies.js'

export const CONNECTION_STATUSES = ['offline', 'syncing', 'saved'] as const
/** `offline`: no socket; `syncing`: connected, local edits not yet acknowledged; `saved`: on the server's disk. */
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number]

/** Delay before asking the server to acknowledge a burst of local edits. @default 150 ms */
const SAVE_PROBE_DELAY_MS = 150
/** Longest reconnect back-off. @default 2000 ms */
const MAX_BACKOFF_MS = 2_000

export interface DocConnectionOptions {
  docName: string
  /** The signed-in user: scopes the IndexedDB copy and the cross-tab channel. */
  userId: string
  /** Ask the server for notices (record documents): rejected edits, fields set at the same moment as someone else. */
  notices: boolean
  /** Keep an IndexedDB copy for offline use. */
  persist: boolean
  /**
   * A viewer: it never sends document updates. Otherwise opening a record would write: the
   * IndexedDB copy loaded at open, or the reply to the server's sync step 1 (which carries
   * the whole delete set), reaches the server as an edit, and the viewer is told that a
   * change they never made was undone.
   */
  readOnly?: boolean
  onSessionEnded: () => void
  /** This tab changed the document; it is not on the server's disk yet. */
  onLocalEdit?: (docName: string) => void
  /** Everything this tab changed is on the server's disk. */
  onSaved?: (docName: string) => void
}

/** Opens `docName` over the sync endpoint of the page's own origin. */
export class DocConnection {
  readonly doc = new Y.Doc()
  readonly provider: WebsocketProvider
  readonly local: IndexeddbPersistence | null
  /** Fields set at the same moment as someone else, when this connection asks for notices. */
  readonly conflicts: ConflictMarkers | null
  status: ConnectionStatus = 'offline'
  /** True once the document holds the server's or the IndexedDB copy's state. */
  loaded = false
  /** True once the document holds the server's state (the IndexedDB copy may be older). */
  serverLoaded = false
  /** The close code when the server ended this document's connection for good (4403, 4404, …). */
  closedCode: number | null = null
  private dirty = false
  private awaitingAck = false
  private probeTimer: ReturnType<typeof setTimeout> | null = null
  private readonly listeners = new Set<() => void>()
  private readonly noticeListeners = new Set<(notice: ServerNotice) => void>()

  constructor(readonly options: DocConnectionOptions) {
    const origin = location.origin.replace(/^http/, 'ws')
    this.provider = new WebsocketProvider(`${origin}/sync`, options.docName, this.doc, {
      connect: false,
      params: options.notices ? { notices: '1' } : {},
      maxBackoffTime: MAX_BACKOFF_MS,
      // 4xx closes are final (no session, no access, malformed) — except rate limiting, which backs off and retries.
      shouldReconnect: (event: CloseEvent) => !(event.code >= 4400 && event.code < 4500) || event.code === CLOSE.rateLimited.code,
    })
    // The cross-tab channel carries document updates without a server round trip;
    // naming it after the user keeps another user's tab in this browser off it.
    this.provider.bcChannel = localCopyName(options.userId, options.docName)
    this.conflicts = options.notices ? new ConflictMarkers(fieldsOf(this.doc)) : null
    // Kept here rather than by a screen, so a notice that arrives while no screen shows the record still marks it.
    if (this.conflicts) this.noticeListeners.add(this.conflicts.handleNotice)
    this.local = options.persist ? new IndexeddbPersistence(localCopyName(options.userId, options.docName), this.doc) : null
    this.local?.whenSynced.then(() => this.markLoaded())
    this.installHandlers()
    this.provider.connect()
    addEventListener('online', this.handleOnline)
  }

  private installHandlers(): void {
    const syncHandler = this.provider.messageHandlers[MESSAGE.sync]!
    if (this.options.readOnly) this.doc.off('update', this.provider._updateHandler)
    this.provider.messageHandlers[MESSAGE.sync] = (encoder, decoder, provider, emitSynced, type) => {
      const peek = decoding.clone(decoder)
      const syncType = decoding.readVarUint(peek)
      if (this.options.readOnly && syncType === syncProtocol.messageYjsSyncStep1) return
      const isStep2 = syncType === syncProtocol.messageYjsSyncStep2
      syncHandler(encoder, decoder, provider, emitSynced, type)
      // The server answers sync step 1 only once everything it received before is on disk.
      if (isStep2 && this.awaitingAck && !this.probeTimer) {
        this.awaitingAck = false
        this.dirty = false
        this.options.onSaved?.(this.options.docName)
      }
      this.refresh()
    }
    this.provider.messageHandlers[MESSAGE.notice] = (_encoder, decoder) => {
      const notice = JSON.parse(decoding.readVarString(decoder)) as ServerNotice
      for (const listener of this.noticeListeners) listener(notice)
    }
    this.provider.on('status', this.refresh)
    this.provider.on('sync', (synced: boolean) => {
      if (synced) this.serverLoaded = true
      if (synced) this.markLoaded()
      if (synced && this.dirty) this.scheduleProbe()
      this.refresh()
    })
    this.provider.on('closed', (event: { code: number }) => {
      if (event.code === CLOSE.unauthorized.code) this.options.onSessionEnded()
      this.closedCode = event.code
      this.refresh()
    })
    this.doc.on('update', this.handleUpdate)
  }

  private handleUpdate = (_update: Uint8Array, origin: unknown): void => {
    if (origin === this.provider || origin === this.local) return
    this.dirty = true
    this.options.onLocalEdit?.(this.options.docName)
    this.scheduleProbe()
    this.refresh()
  }

  /**
   * Treats the document as holding edits the server may lack (edits an earlier page
   * made offline, now in IndexedDB): status stays `syncing` until the server acknowledges.
   */
  markUnsaved(): void {
    this.dirty = true
    if (this.provider.synced) this.scheduleProbe()
    this.refresh()
  }

  /** True while edits of this tab are not known to be on the server's disk. */
  get unsaved(): boolean {
    return this.dirty
  }

  private scheduleProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer)
    this.probeTimer = setTimeout(this.probeSaved, SAVE_PROBE_DELAY_MS)
  }

  /** Sends sync step 1; the server's step 2 reply means our edits are persisted. */
  private probeSaved = (): void => {
    this.probeTimer = null
    const ws = this.provider.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) return
    this.awaitingAck = true
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE.sync)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    ws.send(encoding.toUint8Array(encoder))
  }

  private handleOnline = (): void => {
    if (!this.provider.wsconnected && this.provider.shouldConnect) {
      this.provider.disconnect()
      this.provider.connect()
    }
  }

  private markLoaded(): void {
    if (this.loaded) return
    this.loaded = true
    this.refresh()
  }

  private refresh = (): void => {
    const next: ConnectionStatus = !this.provider.wsconnected ? 'offline' : !this.provider.synced || this.dirty ? 'syncing' : 'saved'
    this.status = next
    for (const listener of this.listeners) listener()
  }

  /** Calls `listener` whenever status or load state changes; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  onNotice(listener: (notice: ServerNotice) => void): () => void {
    this.noticeListeners.add(listener)
    return () => this.noticeListeners.delete(listener)
  }

  /**
   * Closes the socket and the cross-tab channel at once; resolves when the IndexedDB
   * copy is closed too. The copy itself stays (offline use) until sign-out deletes it.
   */
  destroy(): Promise<void> {
    removeEventListener('online', this.handleOnline)
    if (this.probeTimer) clearTimeout(this.probeTimer)
    this.listeners.clear()
    this.noticeListeners.clear()
    this.conflicts?.dispose()
    this.provider.destroy()
    // A copy the browser refused to open (storage off) has nothing to close.
    const closed = this.local ? this.local.destroy().catch(() => undefined) : Promise.resolve()
    this.doc.destroy()
    return closed
  }
}
