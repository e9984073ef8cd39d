/**
 * A local stand-in for Google, used only in tests: the OAuth token endpoint (verifying the
 * service account's RS256-signed JWT) and the few Sheets v4 endpoints Accord uses —
 * `spreadsheets.get`, `spreadsheets.batchUpdate` (addSheet), `values.batchUpdate`,
 * `values.batchClear`, `values.get`. It can inject failures (429/500 with Retry-After,
 * a permanent 403) and latency, rejects requests over 2 MB like Google, and records every
 * request so tests can check what was sent. `values.append` is answered 400 and counted:
 * Accord must never use it.
 */
import { createPublicKey, generateKeyPairSync, randomUUID, verify } from 'node:crypto'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export type CellValue = string | number | boolean
type Grid = CellValue[][]

interface Spreadsheet {
  title: string
  tabs: Map<string, { sheetId: number; grid: Grid }>
}

export interface RecordedRequest {
  method: string
  path: string
  bytes: number
  status: number
  at: number
}

interface Fault {
  status: number
  times: number
  retryAfterS?: number
}

/** Google's limit on a request body. */
export const GOOGLE_MAX_REQUEST_BYTES = 2 * 1024 * 1024
const RANGE = /^(?:'((?:[^']|'')+)'|([^!]+))!([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$/

export function columnIndex(letters: string): number {
  let n = 0
  for (const c of letters) n = n * 26 + (c.charCodeAt(0) - 64)
  return n - 1
}

export function parseRange(range: string): { tab: string; row0: number; col0: number; row1: number; col1: number } {
  const m = RANGE.exec(range)
  if (!m) throw new Error(`bad range ${range}`)
  const tab = m[1] !== undefined ? m[1].replace(/''/g, "'") : m[2]!
  const row0 = Number(m[4]) - 1
  const col0 = columnIndex(m[3]!)
  return { tab, row0, col0, row1: m[6] ? Number(m[6]) - 1 : row0, col1: m[5] ? columnIndex(m[5]) : col0 }
}

export class SheetsEmulator {
  readonly requests: RecordedRequest[] = []
  readonly spreadsheets = new Map<string, Spreadsheet>()
  /** Added to every API response. */
  latencyMs = 0
  appendCalls = 0
  /** The `valueInputOption` of every `values.batchUpdate`, in order (`RAW` stores strings as they are; `USER_ENTERED` parses formulas). */
  readonly valueInputOptions: string[] = []
  tokenRequests = 0
  private readonly faults: Fault[] = []
  private readonly denied = new Set<string>()
  private readonly tokens = new Set<string>()
  private readonly keys = new Map<string, string>()
  private server: Server | null = null
  private url = ''
  private nextSheetId = 1
  /** API requests waiting at a pause or barrier now. */
  held = 0
  private holdAfterMatch: ((request: RecordedRequest) => boolean) | null = null
  private barrier: { count: number; seen: Set<string>; open: Promise<void>; release: () => void } | null = null

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this.url
  }

  /** The API root to configure (`rootUrl` of the Google client). */
  get apiRoot(): string {
    return `${this.url}/`
  }

  /** A fresh service-account key file whose `token_uri` is this emulator. */
  serviceAccount(email = `accord-test-${randomUUID().slice(0, 8)}@example.iam.gserviceaccount.com`) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.keys.set(email, publicKey.export({ type: 'spki', format: 'pem' }).toString())
    return {
      type: 'service_account',
      client_email: email,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      token_uri: `${this.url}/token`,
    }
  }

  createSpreadsheet(id: string, title = `Spreadsheet ${id}`): void {
    this.spreadsheets.set(id, { title, tabs: new Map() })
  }

  /** The next `times` API requests fail with `status`. */
  fail(status: number, times: number, retryAfterS?: number): void {
    this.faults.push({ status, times, retryAfterS })
  }

  /**
   * Holds every API request until requests for `count` different spreadsheets have arrived
   * (once). Proves that that many exports are in flight at the same moment.
   */
  holdUntilConcurrent(count: number): void {
    let release = () => {}
    const open = new Promise<void>((resolve) => (release = resolve))
    this.barrier = { count, seen: new Set(), open, release }
  }

  /** Holds every API request until `resume()`. */
  pause(): void {
    this.holdUntilConcurrent(Number.POSITIVE_INFINITY)
  }

  /** Pauses (see `pause`) right after answering the first request that matches. */
  holdAfter(match: (request: RecordedRequest) => boolean): void {
    this.holdAfterMatch = match
  }

  resume(): void {
    const barrier = this.barrier
    this.barrier = null
    barrier?.release()
  }

  /** Every request for this spreadsheet is answered 403 from now on. */
  deny(spreadsheetId: string): void {
    this.denied.add(spreadsheetId)
  }

  /** The spreadsheet's tabs, in order. */
  tabTitles(spreadsheetId: string): string[] {
    return [...(this.spreadsheets.get(spreadsheetId)?.tabs.keys() ?? [])]
  }

  /** A tab's cells, trailing empty rows and cells trimmed (as Google returns them). */
  values(spreadsheetId: string, tab: string): Grid {
    const grid = this.spreadsheets.get(spreadsheetId)?.tabs.get(tab)?.grid ?? []
    const rows = grid.map((row) => {
      const copy = [...row]
      while (copy.length > 0 && copy.at(-1) === '') copy.pop()
      return copy
    })
    while (rows.length > 0 && rows.at(-1)!.length === 0) rows.pop()
    return rows
  }

  /** API requests (token requests excluded) that changed data. */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.status === 200)
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  // ---- HTTP ------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const path = decodeURIComponent(new URL(req.url ?? '/', this.url).pathname)
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      if (path !== '/token') {
        const recorded = { method: req.method ?? '', path, bytes: body.length, status, at: Date.now() }
        this.requests.push(recorded)
        if (this.holdAfterMatch?.(recorded)) {
          this.holdAfterMatch = null
          this.pause()
        }
      }
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json))
    }
    const error = (status: number, message: string, headers: Record<string, string> = {}) =>
      send(status, { error: { code: status, message, status: statusName(status) } }, headers)
    try {
      if (path === '/token' && req.method === 'POST') return this.handleToken(body, send, error)
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs))
      const barrier = this.barrier
      if (barrier) {
        barrier.seen.add(/^\/v4\/spreadsheets\/([^/:]+)/.exec(path)?.[1] ?? '')
        if (barrier.seen.size >= barrier.count) {
          this.barrier = null
          barrier.release()
        }
        this.held++
        await barrier.open
        this.held--
      }
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
      if (!token || !this.tokens.has(token)) return error(401, 'Request had invalid authentication credentials.')
      if (body.length > GOOGLE_MAX_REQUEST_BYTES) return error(413, 'Request payload size exceeds the limit: 2097152 bytes.')
      const fault = this.faults[0]
      if (fault) {
        if (--fault.times <= 0) this.faults.shift()
        const headers: Record<string, string> = fault.retryAfterS === undefined ? {} : { 'retry-after': String(fault.retryAfterS) }
        return error(
          fault.status,
          fault.status === 429 ? 'Quota exceeded for quota metric Write requests' : 'Internal error encountered.',
          headers,
        )
      }
      const m = /^\/v4\/spreadsheets\/([^/:]+)(.*)$/.exec(path)
      if (!m) return error(404, 'Not found')
      const [, id, rest] = m as unknown as [string, string, string]
      if (this.denied.has(id)) return error(403, 'The caller does not have permission')
      const sheet = this.spreadsheets.get(id)
      if (!sheet) return error(404, 'Requested entity was not found.')
      const json = body.length ? (JSON.parse(body.toString()) as Record<string, unknown>) : {}
      return this.route(req.method ?? 'GET', id, rest, sheet, json, send, error)
    } catch (e) {
      return error(400, (e as Error).message)
    }
  }

  private route(
    method: string,
    id: string,
    rest: string,
    sheet: Spreadsheet,
    json: Record<string, unknown>,
    send: (status: number, json: unknown) => void,
    error: (status: number, message: string) => void,
  ): void {
    if (method === 'GET' && rest === '') {
      const sheets = [...sheet.tabs].map(([title, tab], index) => ({ properties: { sheetId: tab.sheetId, title, index } }))
      return send(200, { spreadsheetId: id, properties: { title: sheet.title }, sheets })
    }
    if (method === 'POST' && rest === ':batchUpdate') {
      const replies = (json.requests as { addSheet?: { properties: { title: string } } }[]).map((request) => {
        const title = request.addSheet?.properties.title
        if (!title) throw new Error('only addSheet is emulated')
        if (sheet.tabs.has(title)) throw new Error(`A sheet with the name "${title}" already exists.`)
        const sheetId = this.nextSheetId++
        sheet.tabs.set(title, { sheetId, grid: [] })
        return { addSheet: { properties: { sheetId, title } } }
      })
      return send(200, { spreadsheetId: id, replies })
    }
    if (method === 'POST' && rest === '/values:batchUpdate') {
      const option = String(json.valueInputOption)
      if (option !== 'RAW' && option !== 'USER_ENTERED') return error(400, `Invalid valueInputOption: ${option}`)
      this.valueInputOptions.push(option)
      let cells = 0
      for (const { range, values } of json.data as { range: string; values: CellValue[][] }[]) cells += this.write(sheet, range, values)
      return send(200, { spreadsheetId: id, totalUpdatedCells: cells })
    }
    if (method === 'POST' && rest === '/values:batchClear') {
      for (const range of json.ranges as string[]) this.clear(sheet, range)
      return send(200, { spreadsheetId: id, clearedRanges: json.ranges })
    }
    if (method === 'POST' && rest.endsWith(':append')) {
      this.appendCalls++
      return error(400, 'values.append is not allowed in these tests')
    }
    const get = /^\/values\/(.+)$/.exec(rest)
    if (method === 'GET' && get) {
      const { tab } = parseRange(get[1]!)
      return send(200, { range: get[1], values: this.values(id, tab) })
    }
    return error(404, `no emulated endpoint ${method} ${rest}`)
  }

  private tabOf(sheet: Spreadsheet, name: string) {
    const tab = sheet.tabs.get(name)
    if (!tab) throw new Error(`Unable to parse range: no sheet "${name}"`)
    return tab
  }

  private write(sheet: Spreadsheet, range: string, values: CellValue[][]): number {
    const r = parseRange(range)
    if (values.length > r.row1 - r.row0 + 1)
      throw new Error(`Requested writing within range [${range}], but tried writing to row ${r.row0 + values.length}`)
    const grid = this.tabOf(sheet, r.tab).grid
    let cells = 0
    values.forEach((row, i) => {
      if (row.length > r.col1 - r.col0 + 1)
        throw new Error(`Requested writing within range [${range}], but tried writing to column ${row.length}`)
      const target = (grid[r.row0 + i] ??= [])
      row.forEach((value, j) => {
        while (target.length < r.col0 + j) target.push('')
        target[r.col0 + j] = value
        cells++
      })
    })
    for (let i = 0; i < grid.length; i++) grid[i] ??= []
    return cells
  }

  private clear(sheet: Spreadsheet, range: string): void {
    const r = parseRange(range)
    const grid = this.tabOf(sheet, r.tab).grid
    for (let row = r.row0; row <= r.row1 && row < grid.length; row++) {
      for (let col = r.col0; col <= r.col1 && col < (grid[row]?.length ?? 0); col++) grid[row]![col] = ''
    }
  }

  private handleToken(body: Buffer, send: (status: number, json: unknown) => void, error: (status: number, message: string) => void): void {
    this.tokenRequests++
    const form = new URLSearchParams(body.toString())
    const assertion = form.get('assertion') ?? ''
    const [header, payload, signature] = assertion.split('.')
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' || !header || !payload || !signature)
      return error(400, 'invalid_grant')
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { iss?: string; scope?: string; exp?: number }
    const key = claims.iss ? this.keys.get(claims.iss) : undefined
    const valid =
      key && verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), createPublicKey(key), Buffer.from(signature, 'base64url'))
    if (!valid) return error(400, 'invalid_grant: bad signature')
    if (!claims.scope?.includes('spreadsheets')) return error(400, 'invalid_scope')
    const token = `emulated-${randomUUID()}`
    this.tokens.add(token)
    send(200, { access_token: token, expires_in: 3600, token_type: 'Bearer' })
  }
}

function statusName(status: number): string {
  return (
    {
      400: 'INVALID_ARGUMENT',
      401: 'UNAUTHENTICATED',
      403: 'PERMISSION_DENIED',
      404: 'NOT_FOUND',
      413: 'INVALID_ARGUMENT',
      429: 'RESOURCE_EXHAUSTED',
      500: 'INTERNAL',
    }[status] ?? 'UNKNOWN'
  )
}
