/**
 * One simulated user: a REST session and real y-websocket providers over real
 * sockets, doing what a sales team does all day — open records, type notes, change
 * fields, book meeting slots, start exports.
 */
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { DEAL_STAGES } from '../../shared/collections.js'
import { fieldsOf, notesOf } from '../../shared/docLayout.js'
import { LatencySamples, restKindOf } from './latency.js'

/** A record the team works on. */
export interface SimRecord {
  collection: 'customers' | 'deals'
  id: string
  docName: string
}

/** Everything the users of one run share: what they did and what they saw. */
export interface RunLedger {
  runId: string
  workspace: string
  /** Day (UTC midnight, ms) on which this run books its meetings. */
  bookingDay: number
  rooms: readonly string[]
  userIds: string[]
  records: SimRecord[]
  /** Edit marker -> when it was typed. */
  sentAt: Map<string, number>
  /** docName -> markers typed into it. */
  markers: Map<string, Set<string>>
  events: string[]
  jobs: string[]
  operations: Record<OperationKind, number>
  invalidAttempts: number
  /** Bookings the server refused as conflicts (null: reservations not decided by this server). */
  conflicts: number | null
  syncLatency: LatencySamples
  restLatency: LatencySamples
  /** The same REST calls by kind (`restKindOf`). */
  restLatencyByKind: Map<string, LatencySamples>
  exportsAvailable: boolean
  /** REST calls that failed unexpectedly (status and path). */
  errors: string[]
}

export const OPERATION_KINDS = ['open', 'note', 'field', 'patch', 'booking', 'export'] as const
export type OperationKind = (typeof OPERATION_KINDS)[number]

const MAX_OPEN_RECORDS = 5
const MAX_EXPORTS_PER_USER = 2
const INVALID_EDIT_SHARE = 0.1
const MARKER_PATTERN = /⟦([a-z0-9]+:\d+\.\d+)⟧/g

export interface Replica {
  record: SimRecord
  doc: Y.Doc
  provider: WebsocketProvider
}

export class SimUser {
  readonly replicas = new Map<string, Replica>()
  private typed = 0
  private exports = 0

  constructor(
    readonly index: number,
    readonly url: string,
    readonly token: string,
    readonly userId: string,
    private readonly ledger: RunLedger,
  ) {}

  get name(): string {
    return `user${this.index}`
  }

  /** Logs in; throws with the server's answer on failure. */
  static async login(index: number, url: string, email: string, password: string, ledger: RunLedger): Promise<SimUser> {
    const res = await fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
    if (res.status !== 200) throw new Error(`login of ${email} failed: ${res.status} ${await res.text()}`)
    const body = (await res.json()) as { token: string; user: { id: string; workspace: string } }
    ledger.workspace = body.user.workspace
    return new SimUser(index, url, body.token, body.user.id, ledger)
  }

  /** A timed REST call; returns status and parsed body. */
  // biome-ignore lint/suspicious/noExplicitAny: the simulator reads whatever the API answers
  async api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const startedAt = performance.now()
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    const ms = performance.now() - startedAt
    this.ledger.restLatency.add(ms)
    const kind = restKindOf(method, path)
    let samples = this.ledger.restLatencyByKind.get(kind)
    if (!samples) this.ledger.restLatencyByKind.set(kind, (samples = new LatencySamples()))
    samples.add(ms)
    return { status: res.status, body: text ? JSON.parse(text) : null }
  }

  /** Creates a customer and a deal of its own. */
  async createRecords(): Promise<void> {
    const customer = await this.api('POST', '/api/records/customers', {
      name: `Sim customer ${this.ledger.runId}-${this.index}`,
      phone: '+1 555 0000',
      ownerId: this.userId,
    })
    this.expect(customer, 201, 'create customer')
    const deal = await this.api('POST', '/api/records/deals', {
      title: `Sim deal ${this.ledger.runId}-${this.index}`,
      customerId: customer.body.id,
      stage: 'lead',
      amount: 1000,
      currency: 'EUR',
    })
    this.expect(deal, 201, 'create deal')
    for (const r of [customer.body, deal.body])
      this.ledger.records.push({ collection: r.collection, id: r.id, docName: `${this.ledger.workspace}/${r.collection}/${r.id}` })
  }

  /** Opens a record over the sync endpoint (resolves once synced). */
  async open(record: SimRecord): Promise<Replica> {
    const existing = this.replicas.get(record.docName)
    if (existing) return existing
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${this.url.replace(/^http/, 'ws')}/sync`, record.docName, doc, {
      params: { token: this.token },
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
      maxBackoffTime: 500,
    })
    const replica = { record, doc, provider }
    this.replicas.set(record.docName, replica)
    // Only live updates count: the initial sync delivers old edits too.
    notesOf(doc).observe((event) => {
      if (provider.synced) this.observeNotes(event)
    })
    await new Promise<void>((resolve) => {
      if (provider.synced) return resolve()
      const onSync = (isSynced: boolean) => {
        if (!isSynced) return
        provider.off('sync', onSync)
        resolve()
      }
      provider.on('sync', onSync)
    })
    this.ledger.operations.open++
    return replica
  }

  /** Another user's typing arrived: one latency sample per marker seen. */
  private observeNotes(event: Y.YTextEvent): void {
    if (event.transaction.local) return
    const now = performance.now()
    for (const op of event.delta) {
      if (typeof op.insert !== 'string') continue
      for (const match of op.insert.matchAll(MARKER_PATTERN)) {
        const sentAt = this.ledger.sentAt.get(match[1]!)
        if (sentAt !== undefined) this.ledger.syncLatency.add(now - sentAt)
      }
    }
  }

  /** One action, chosen like a team member at work would. */
  async act(): Promise<void> {
    const roll = Math.random()
    if (this.replicas.size === 0 || (roll < 0.06 && this.replicas.size < MAX_OPEN_RECORDS))
      return void (await this.open(pick(this.ledger.records)))
    if (roll < 0.5) return this.typeNote()
    if (roll < 0.72) return this.changeField()
    if (roll < 0.82) return this.patchViaRest()
    if (roll < 0.97 || !this.ledger.exportsAvailable || this.exports >= MAX_EXPORTS_PER_USER) return this.bookSlot()
    return this.startExport()
  }

  private typeNote(): void {
    const { doc, record } = pick([...this.replicas.values()])
    const marker = `${this.ledger.runId}:${this.index}.${this.typed++}`
    const notes = notesOf(doc)
    this.ledger.sentAt.set(marker, performance.now())
    let set = this.ledger.markers.get(record.docName)
    if (!set) this.ledger.markers.set(record.docName, (set = new Set()))
    set.add(marker)
    // At the start or end, or just before another edit: never inside one.
    const text = notes.toString()
    const starts = [0, text.length, ...[...text.matchAll(/⟦/g)].map((m) => m.index!)]
    notes.insert(pick(starts), `⟦${marker}⟧ call notes `)
    this.ledger.operations.note++
  }

  private changeField(): void {
    const { doc, record } = pick([...this.replicas.values()])
    const fields = fieldsOf(doc)
    if (record.collection === 'customers') fields.set('phone', `+1 555 ${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`)
    else if (Math.random() < INVALID_EDIT_SHARE) {
      fields.set('amount', -1)
      this.ledger.invalidAttempts++
    } else if (Math.random() < 0.5) fields.set('amount', Math.floor(Math.random() * 100_000))
    else fields.set('stage', pick(DEAL_STAGES))
    this.ledger.operations.field++
  }

  private async patchViaRest(): Promise<void> {
    const record = pick(this.ledger.records)
    const patch =
      record.collection === 'customers'
        ? { company: `Co ${Math.floor(Math.random() * 100)}` }
        : { closeDate: `2027-0${1 + Math.floor(Math.random() * 9)}-15` }
    this.expect(await this.api('PATCH', `/api/records/${record.collection}/${record.id}`, patch), 200, 'patch record')
    this.ledger.operations.patch++
  }

  /** Books a one-hour meeting in a busy week: clashes on rooms and people are common. */
  private async bookSlot(): Promise<void> {
    const hour = 9 + Math.floor(Math.random() * 8)
    const start = this.ledger.bookingDay + hour * 3_600_000
    const attendees = [this.userId, ...(Math.random() < 0.3 ? [pick(this.ledger.userIds)] : [])]
    const res = await this.api('POST', '/api/records/events', {
      title: `Meeting ${this.ledger.runId} ${this.name}`,
      start: new Date(start).toISOString(),
      end: new Date(start + 3_600_000).toISOString(),
      attendees: [...new Set(attendees)],
      room: pick(this.ledger.rooms),
    })
    this.expect(res, 201, 'book a slot')
    if (res.status === 201) this.ledger.events.push(res.body.id)
    this.ledger.operations.booking++
  }

  private async startExport(): Promise<void> {
    const res = await this.api('POST', '/api/exports', { target: 'csv', collections: ['customers', 'deals'] })
    if (res.status === 404) {
      this.ledger.exportsAvailable = false
      return
    }
    this.expect(res, 202, 'start an export')
    if (res.status === 202) this.ledger.jobs.push(`${this.index}:${res.body.id}`)
    this.exports++
    this.ledger.operations.export++
  }

  private expect(res: { status: number; body: unknown }, status: number, what: string): void {
    if (res.status !== status)
      this.ledger.errors.push(`${this.name}: ${what} answered ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`)
  }

  /** Resolves once every socket has sent what it queued (or at `deadline`, ms since epoch). */
  async drained(deadline: number): Promise<void> {
    for (;;) {
      const busy = [...this.replicas.values()].some(({ provider }) => !provider.wsconnected || (provider.ws?.bufferedAmount ?? 0) > 0)
      if (!busy || Date.now() > deadline) return
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  close(): void {
    for (const { provider, doc } of this.replicas.values()) {
      provider.destroy()
      doc.destroy()
    }
    this.replicas.clear()
  }
}

export function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!
}
