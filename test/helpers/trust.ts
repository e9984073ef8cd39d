/**
 * Helpers of the trust-boundary tests: notices captured from a stock provider, the
 * close code a provider got, and a raw socket that speaks bytes.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { type ClientOptions, WebSocket } from 'ws'
import type { WebsocketProvider } from 'y-websocket'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { MESSAGE, type ServerNotice } from '../../shared/protocol.js'

/** `p`, kept in `open` (the providers a test file destroys when it ends). */
export function tracked(open: WebsocketProvider[], p: WebsocketProvider): WebsocketProvider {
  open.push(p)
  return p
}

/** Collects the notices (message type 100) a provider connected with `?notices=1` receives. */
export function captureNotices(p: WebsocketProvider): ServerNotice[] {
  const notices: ServerNotice[] = []
  p.messageHandlers[MESSAGE.notice] = (_encoder, decoder) => {
    notices.push(JSON.parse(decoding.readVarString(decoder)) as ServerNotice)
  }
  return notices
}

/** Every close code a provider's sockets got, in order. */
export function closeCodes(p: WebsocketProvider): number[] {
  const codes: number[] = []
  p.on('connection-close', (event) => {
    if (event) codes.push(event.code)
  })
  return codes
}

/** A WebSocket that sends and records raw bytes. */
export class RawClient {
  readonly ws: WebSocket
  readonly received: Uint8Array[] = []
  readonly opened: Promise<void>
  readonly closed: Promise<number>
  closeCode: number | null = null

  constructor(url: string, options?: ClientOptions) {
    this.ws = new WebSocket(url, options)
    this.ws.binaryType = 'nodebuffer'
    this.ws.on('message', (data: Buffer) => this.received.push(new Uint8Array(data)))
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code) => {
        this.closeCode = code
        resolve(code)
      })
    })
    this.ws.on('error', () => undefined)
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  send(bytes: Uint8Array): void {
    if (this.isOpen) this.ws.send(bytes)
  }

  /**
   * Resolves once the server has read everything sent before (a ping is answered after the
   * frames ahead of it were handled), or once the socket closed.
   */
  settled(): Promise<void> {
    if (!this.isOpen) return this.closed.then(() => undefined)
    return new Promise((resolve) => {
      const done = () => {
        this.ws.off('pong', done)
        resolve()
      }
      this.ws.on('pong', done)
      void this.closed.then(done)
      this.ws.ping()
    })
  }

  close(): void {
    this.ws.terminate()
  }
}

/** `sync` message carrying a Yjs update. */
export function updateMessage(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.sync)
  syncProtocol.writeUpdate(encoder, update)
  return encoding.toUint8Array(encoder)
}

/** `sync step 1` message of a document. */
export function syncStep1(doc: Y.Doc): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.sync)
  syncProtocol.writeSyncStep1(encoder, doc)
  return encoding.toUint8Array(encoder)
}

/** `awareness` message from raw entries (the state is JSON text, sent as given). */
export function awarenessMessage(entries: { clientID: number; clock: number; json: string }[]): Uint8Array {
  const inner = encoding.createEncoder()
  encoding.writeVarUint(inner, entries.length)
  for (const entry of entries) {
    encoding.writeVarUint(inner, entry.clientID)
    encoding.writeVarUint(inner, entry.clock)
    encoding.writeVarString(inner, entry.json)
  }
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE.awareness)
  encoding.writeVarUint8Array(encoder, encoding.toUint8Array(inner))
  return encoding.toUint8Array(encoder)
}

/** The update a change makes to a copy of `doc`'s state (a client's edit, without a provider). */
export function editOf(base: Y.Doc, change: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(base))
  const sv = Y.encodeStateVector(doc)
  change(doc)
  const update = Y.encodeStateAsUpdate(doc, sv)
  doc.destroy()
  return update
}
