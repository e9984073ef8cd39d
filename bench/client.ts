/**
 * Minimal sync clients for the load generator: one Y.Doc over one socket, speaking
 * either the y-websocket protocol (Accord, the y-websocket reference server) or
 * Hocuspocus' multiplexed protocol (document name before every message, auth first).
 * Lighter than the stock providers, so one process can hold thousands of sockets.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocket } from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'

export const SERVER_KINDS = ['accord', 'accordPostgres', 'hocuspocus', 'ywebsocket', 'accordNormal'] as const
export type ServerKind = (typeof SERVER_KINDS)[number]

/** Accord on any backend: sign-in tokens, `/sync/<workspace>/<collection>/<id>` document names. */
export const isAccord = (kind: ServerKind): boolean => kind === 'accord' || kind === 'accordPostgres' || kind === 'accordNormal'

const MESSAGE_SYNC = 0
const MESSAGE_AUTH = 2
const REMOTE = Symbol('remote')

/** Milliseconds on a clock shared by every process of this machine. */
export const now = (): number => performance.timeOrigin + performance.now()

export interface BenchClient {
  readonly doc: Y.Doc
  readonly text: Y.Text
  /** Resolves with the time the first sync completed. */
  readonly synced: Promise<number>
  /** Resolves with the close code once the socket closed. */
  readonly closed: Promise<number>
  /** Called with every remote text insert and the time its message arrived. */
  onRemoteInsert(listener: (inserted: string, arrivedAt: number) => void): void
  insert(text: string): void
  isOpen(): boolean
  close(): void
}

export interface Target {
  kind: ServerKind
  /** ws://host:port */
  wsUrl: string
  token: string
}

/**
 * Messages are stamped as they arrive and handled once every socket that was readable has
 * been read. One load generator holds many clients: handling each message as it arrives would
 * add the others' work to the later ones' latency (of 100 readers of one update, the last
 * would wait for 99 documents to apply it), which is the load generator's cost, not the
 * server's; real readers each have their own machine.
 */
const inbox: (() => void)[] = []
function handleSoon(work: () => void): void {
  if (inbox.push(work) === 1) setImmediate(handleInbox)
}
function handleInbox(): void {
  for (const work of inbox.splice(0)) work()
}

export function openClient(target: Target, docName: string): BenchClient {
  const hocus = target.kind === 'hocuspocus'
  const url = isAccord(target.kind)
    ? `${target.wsUrl}/sync/${docName}?token=${encodeURIComponent(target.token)}`
    : hocus
      ? target.wsUrl
      : `${target.wsUrl}/${docName}`
  const ws = new WebSocket(url, { perMessageDeflate: false })
  ws.binaryType = 'nodebuffer'
  const doc = new Y.Doc()
  const text = doc.getText('notes')
  const listeners: ((inserted: string, arrivedAt: number) => void)[] = []
  /** When the message being applied arrived. */
  let arrivedAt = 0
  let markSynced: (at: number) => void = () => undefined
  const synced = new Promise<number>((resolve) => (markSynced = resolve))
  let isSynced = false

  const frame = (write: (encoder: encoding.Encoder) => void): Uint8Array => {
    const encoder = encoding.createEncoder()
    if (hocus) encoding.writeVarString(encoder, docName)
    write(encoder)
    return encoding.toUint8Array(encoder)
  }
  const send = (data: Uint8Array) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(data)
  }

  ws.on('open', () => {
    if (hocus)
      send(
        frame((e) => {
          encoding.writeVarUint(e, MESSAGE_AUTH)
          encoding.writeVarUint(e, 0)
          encoding.writeVarString(e, target.token)
        }),
      )
    send(
      frame((e) => {
        encoding.writeVarUint(e, MESSAGE_SYNC)
        syncProtocol.writeSyncStep1(e, doc)
      }),
    )
  })
  ws.on('message', (data: Buffer) => {
    const at = now()
    handleSoon(() => handle(data, at))
  })
  const handle = (data: Buffer, at: number) => {
    arrivedAt = at
    const decoder = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    if (hocus) decoding.readVarString(decoder)
    if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return
    const reply = encoding.createEncoder()
    if (hocus) encoding.writeVarString(reply, docName)
    encoding.writeVarUint(reply, MESSAGE_SYNC)
    const headerLength = encoding.length(reply)
    const kind = syncProtocol.readSyncMessage(decoder, reply, doc, REMOTE)
    if (encoding.length(reply) > headerLength) send(encoding.toUint8Array(reply))
    if (kind === syncProtocol.messageYjsSyncStep2 && !isSynced) {
      isSynced = true
      markSynced(at)
    }
  }
  ws.on('error', () => undefined)
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin === REMOTE) return
    send(
      frame((e) => {
        encoding.writeVarUint(e, MESSAGE_SYNC)
        syncProtocol.writeUpdate(e, update)
      }),
    )
  })
  text.observe((event) => {
    if (event.transaction.origin !== REMOTE || listeners.length === 0) return
    for (const op of event.delta) if (typeof op.insert === 'string') for (const l of listeners) l(op.insert, arrivedAt)
  })

  return {
    doc,
    text,
    synced,
    closed,
    onRemoteInsert: (listener) => void listeners.push(listener),
    insert: (s) => text.insert(text.length, s),
    isOpen: () => ws.readyState === WebSocket.OPEN,
    close: () => {
      ws.terminate()
      doc.destroy()
    },
  }
}

/** Timestamps (ms, shared clock) embedded in inserted text as `|<ms>`. */
export function stampsIn(inserted: string): number[] {
  const out: number[] = []
  for (const m of inserted.matchAll(/\|(\d+(?:\.\d+)?)/g)) out.push(Number(m[1]))
  return out
}

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
