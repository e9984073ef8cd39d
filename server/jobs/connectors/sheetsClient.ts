/**
 * The Google Sheets API through the official client, authenticated as a service account:
 * every write waits for a token of its credential's bucket, and 429/5xx/network failures
 * are retried with backoff. Failures the user can act on become JobErrors with a clear message.
 */
import { readFileSync } from 'node:fs'
import type { sheets_v4 } from '@googleapis/sheets'
import { z } from 'zod'
import { JobError } from '../JobRunner.js'
import { type RetryOptions, type RetryPolicy, RetriesExhausted, type Verdict, parseRetryAfter, withRetry } from '../retry.js'
import type { RequestQuota } from '../RequestQuota.js'

/** The fields of a Google service-account key file that Accord uses. */
export const serviceAccountSchema = z.object({
  client_email: z.string().min(3),
  private_key: z.string().includes('PRIVATE KEY'),
  /** Where to exchange the signed JWT for an access token. @default Google's */
  token_uri: z.url().optional(),
})
export type ServiceAccount = z.infer<typeof serviceAccountSchema>

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'
export const SHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets'

/** Reads and checks a service-account key file; throws one clear line if it is unusable. */
export function loadServiceAccount(file: string): ServiceAccount {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new Error(`cannot read the Google credentials file ${file}: ${(error as Error).message}`)
  }
  const parsed = serviceAccountSchema.safeParse(json)
  if (!parsed.success) throw new Error(`${file} is not a service-account key (needs client_email and private_key)`)
  return parsed.data
}

export interface SheetsApiOptions {
  account: ServiceAccount
  /** API root, ending in `/`. @default 'https://sheets.googleapis.com/' */
  apiRoot?: string
  /** Write quota of this credential. */
  bucket: RequestQuota
  retry: RetryPolicy
}

/** What a call is made for: the job's signal, and who is told while it waits to retry. */
export interface CallOptions {
  signal: AbortSignal
  onWait?: RetryOptions['onWait']
}

export interface ValueRange {
  range: string
  values: (string | number | boolean)[][]
}

function statusOf(error: unknown): number | undefined {
  const e = error as { status?: unknown; response?: { status?: unknown } }
  const status = e?.response?.status ?? e?.status
  return typeof status === 'number' ? status : undefined
}

function headerOf(error: unknown, name: string): string | undefined {
  const headers = (error as { response?: { headers?: unknown } })?.response?.headers
  if (!headers) return undefined
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined
  const value = (headers as Record<string, unknown>)[name]
  return typeof value === 'string' ? value : undefined
}

function judge(error: unknown): Verdict {
  if ((error as Error)?.name === 'AbortError') return { retry: false }
  const status = statusOf(error)
  if (status === undefined) return { retry: true, reason: 'network' }
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(headerOf(error, 'retry-after'))
    return { retry: true, reason: status === 429 ? 'quota' : 'unavailable', retryAfterMs }
  }
  return { retry: false }
}

function messageOf(error: unknown): string {
  const data = (error as { response?: { data?: { error?: { message?: unknown } } } })?.response?.data
  const message = data?.error?.message
  return typeof message === 'string' ? message : ((error as Error)?.message ?? String(error))
}

export class SheetsApi {
  /** The Google client, loaded on first use: a server that never exports to Sheets does not hold it. */
  private api: Promise<sheets_v4.Sheets> | null = null

  constructor(private readonly options: SheetsApiOptions) {}

  private client(): Promise<sheets_v4.Sheets> {
    // A failed load is not kept: the next call tries again.
    this.api ??= this.connect().catch((error: unknown) => {
      this.api = null
      throw error
    })
    return this.api
  }

  private async connect(): Promise<sheets_v4.Sheets> {
    const { auth, sheets } = await import('@googleapis/sheets')
    const { account } = this.options
    const jwt = new auth.JWT({ email: account.client_email, key: account.private_key, scopes: [SHEETS_SCOPE] })
    const tokenUri = account.token_uri
    if (tokenUri && tokenUri !== GOOGLE_TOKEN_URL) {
      // The auth library always posts to Google's token URL; send it where the key file says.
      jwt.transporter.interceptors.request.add({
        resolved: async (config) => {
          if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(tokenUri)
          return config
        },
      })
    }
    // The client's own retries would bypass our bucket and backoff.
    return sheets({ version: 'v4', auth: jwt, rootUrl: this.options.apiRoot ?? 'https://sheets.googleapis.com/', retry: false })
  }

  get accountEmail(): string {
    return this.options.account.client_email
  }

  async tabTitles(spreadsheetId: string, options: CallOptions): Promise<string[]> {
    const { signal } = options
    const res = await this.call(spreadsheetId, false, options, (api) =>
      api.spreadsheets.get({ spreadsheetId, fields: 'sheets.properties.title' }, { signal }),
    )
    return (res.data.sheets ?? []).map((sheet) => sheet.properties?.title ?? '').filter(Boolean)
  }

  /** The spreadsheet's title: one read, which also proves the service account may open it. */
  async title(spreadsheetId: string, options: CallOptions): Promise<string> {
    const { signal } = options
    const res = await this.call(spreadsheetId, false, options, (api) =>
      api.spreadsheets.get({ spreadsheetId, fields: 'properties.title' }, { signal }),
    )
    return res.data.properties?.title ?? ''
  }

  async addTabs(spreadsheetId: string, titles: string[], options: CallOptions): Promise<void> {
    const requests = titles.map((title) => ({ addSheet: { properties: { title } } }))
    await this.call(spreadsheetId, true, options, (api) =>
      api.spreadsheets.batchUpdate({ spreadsheetId, requestBody: { requests } }, { signal: options.signal }),
    )
  }

  /** Writes values to explicit ranges (never append: a retried write lands on the same cells). */
  async writeRanges(spreadsheetId: string, data: ValueRange[], options: CallOptions): Promise<void> {
    await this.call(spreadsheetId, true, options, (api) =>
      api.spreadsheets.values.batchUpdate({ spreadsheetId, requestBody: { valueInputOption: 'RAW', data } }, { signal: options.signal }),
    )
  }

  async clearRanges(spreadsheetId: string, ranges: string[], options: CallOptions): Promise<void> {
    await this.call(spreadsheetId, true, options, (api) =>
      api.spreadsheets.values.batchClear({ spreadsheetId, requestBody: { ranges } }, { signal: options.signal }),
    )
  }

  private async call<T>(
    spreadsheetId: string,
    isWrite: boolean,
    options: CallOptions,
    fn: (api: sheets_v4.Sheets) => Promise<T>,
  ): Promise<T> {
    const { signal } = options
    try {
      const api = await this.client()
      return await withRetry(
        async () => {
          if (isWrite) await this.options.bucket.take(signal)
          return fn(api)
        },
        judge,
        this.options.retry,
        options,
      )
    } catch (error) {
      if (signal.aborted) throw error
      throw this.explain(spreadsheetId, error)
    }
  }

  private explain(spreadsheetId: string, error: unknown): JobError {
    if (error instanceof RetriesExhausted) {
      const status = statusOf(error.last)
      const what = status === undefined ? `could not be reached (${messageOf(error.last)})` : `kept answering ${status}`
      return new JobError(`Google Sheets ${what}; gave up after ${error.attempts} attempts. Try again later.`)
    }
    const status = statusOf(error)
    if (status === 401 || status === 403) {
      return new JobError(
        `Google Sheets refused access to spreadsheet ${spreadsheetId} (${status}: ${messageOf(error)}). Share it with ${this.accountEmail} as an editor.`,
      )
    }
    if (status === 404) return new JobError(`Google Sheets has no spreadsheet ${spreadsheetId} (404)`)
    return new JobError(`Google Sheets rejected the request (${status ?? 'error'}: ${messageOf(error)})`)
  }
}
