/**
 * Exports and imports as durable jobs: the queue, the runner, the connectors, and the live
 * status of every job in its user's inbox document (`<workspace>/inbox/<userId>`).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type * as Y from 'yjs'
import { COLLECTIONS, type Collection } from '../../shared/collections.js'
import { INBOX_JOBS, INBOX_NOTIFICATIONS } from '../../shared/docLayout.js'
import { assertNever, inboxDocName } from '../../shared/docNames.js'
import type { RecordService } from '../records/RecordService.js'
import { appendNotification } from '../documents/inboxNotifications.js'
import type { AccordRegistry, AccordRoom } from '../documents/types.js'
import { serverOrigin } from '../sync/types.js'
import { exportCsv } from './connectors/csv.js'
import type { FileResult } from './connectors/fileExport.js'
import { DiskExportFiles, type ExportFiles } from './ExportFiles.js'
import type { NameSources } from './connectors/ReferenceNames.js'
import { DEFAULT_MAX_REQUEST_BYTES, type SheetsDestination, exportSheets } from './connectors/sheets.js'
import { type ServiceAccount, SheetsApi, loadServiceAccount } from './connectors/sheetsClient.js'
import { exportXlsx } from './connectors/xlsx.js'
import { type DuplicateMode, importCsv } from './importCsv.js'
import {
  type ExportTarget,
  JOB_STATUSES,
  type JobJson,
  type JobKind,
  type JobQueue,
  type StoredJob,
  jobStage,
  toJobJson,
} from './JobQueue.js'
import type { JobStateStore, SheetTarget } from './JobStateStore.js'
import { type JobHandler, JobError, JobRunner, type JobRunnerOptions } from './JobRunner.js'
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js'
import { RequestQuota } from './RequestQuota.js'

export interface SheetsOptions {
  /** A service-account key, or the path of its JSON file. Without it, Sheets exports are refused. */
  credentials?: ServiceAccount | string
  /** API root ending in `/`; tests point it at the emulator. @default 'https://sheets.googleapis.com/' */
  apiRoot?: string
  /** Write requests per minute per credential (Google's quota: 60 per user). @default 60 */
  writesPerMinute?: number
  retry?: Partial<RetryPolicy>
  /** Largest write request. @default 1.5 MB (Google's limit is 2 MB) */
  maxRequestBytes?: number
}

export interface JobOptions extends Omit<JobRunnerOptions, 'onError'> {
  /** Where export files go. @default '<folder of the database>/exports' */
  exportDir?: string
  sheets?: SheetsOptions
}

/** Jobs kept in an inbox document; older finished ones are dropped from it (notifications: inboxNotifications.ts). */
export const MAX_INBOX_JOBS = 50
/** Queued jobs whose inbox position is kept current as the queue moves. */
export const MAX_POSITION_UPDATES = 50
/** Jobs listed by `GET /api/exports`. */
export const MAX_LISTED_JOBS = 100
/** Export files kept per user; older ones are deleted when a new one is written. */
export const MAX_FILES_PER_USER = 10

/** A notification in an inbox document. */
export interface JobNotification {
  id: string
  at: string
  kind: 'job'
  jobId: string
  status: 'succeeded' | 'failed'
  message: string
}

export interface ExportRequest {
  target: ExportTarget
  collections?: Collection[]
  /**
   * A spreadsheet named in the request: synced as the workspace's when it is the workspace's saved
   * one, else as the caller's own (tabs carry their name, so users sharing it never overwrite each other).
   */
  spreadsheetId?: string
  /** Which saved spreadsheet: the user's own or the workspace's; the own one, else the workspace's, when absent. */
  sheet?: SavedSheet
}

export const SAVED_SHEETS = ['mine', 'workspace'] as const
export type SavedSheet = (typeof SAVED_SHEETS)[number]

/** The saved spreadsheets a user sees: theirs and the workspace's. */
export interface SheetsSettings {
  configured: boolean
  serviceAccount?: string
  mine?: SheetTarget
  workspace?: SheetTarget
}

/** How long checking a pasted spreadsheet may take, retries included. */
const SPREADSHEET_CHECK_MS = 20_000

/** The id in a spreadsheet's URL (`…/spreadsheets/d/<id>/edit…`), or the id itself; null when neither. */
export function spreadsheetIdOf(pasted: string): string | null {
  const text = pasted.trim()
  const id = /\/spreadsheets\/d\/([A-Za-z0-9_-]+)/.exec(text)?.[1] ?? text
  return /^[A-Za-z0-9_-]{1,200}$/.test(id) ? id : null
}

export interface ImportRequest {
  collection: Collection
  onDuplicate: DuplicateMode
  /** The field each column goes to ("" ignores it); the header row's names when absent. */
  columns?: string[]
  fileName: string
  csv: Buffer
}

/** The counters a job feeds (server/metrics/Metrics.ts has them). */
export interface JobMetrics {
  jobs: { inc(labels: { status: string; kind: string }): void }
  jobRetries: { inc(labels: { kind: string }): void }
  jobRetryReasons: { inc(labels: { target: string; reason: string }): void }
}

/** The `target` label of a job's retries: an export's target, or `import`. */
export const metricTarget = (job: Pick<StoredJob, 'kind' | 'target'>) => (job.kind === 'import' ? 'import' : job.target)

/** `GET /api/jobs/status`: what the caller's jobs are doing (docs/api.md). */
export interface JobStatusJson {
  isProcessing: boolean
  queueLength: number
  running: JobJson[]
  queued: JobJson[]
  lastFinished: JobJson | null
}

interface Owner {
  workspace: string
  userId: string
}

/** What the job service works with. */
export interface JobServiceDeps {
  queue: JobQueue
  /** Import keys and Sheets sync state. */
  state: JobStateStore
  /** Where exports are written unless `options.exportDir` says otherwise. */
  defaultExportDir: string
  /** Where finished files are kept; by default where they were written. */
  files?: ExportFiles
  records: RecordService
  registry: AccordRegistry
  /** A workspace's users, whose names exports show for references to them. */
  users: NameSources['users']
  metrics?: JobMetrics
  onError?: (error: unknown, context: string) => void
}

/** Beyond this many queued jobs the gauge says only "this many": a longer count costs each scrape more. */
export const QUEUED_COUNT_CAP = 1000

export class JobService {
  readonly queue: JobQueue
  readonly runner: JobRunner
  readonly exportDir: string
  readonly files: ExportFiles
  private readonly state: JobStateStore
  private readonly records: RecordService
  /** Writes a job's state into its user's inbox: a call, run by the inbox's owner (maybe another cluster member). */
  private readonly showIn: (inboxName: string, args: { json: JobJson; notification?: JobNotification }) => Promise<void>
  private readonly metrics: JobMetrics | undefined
  /** Where exports find the names of what records refer to. */
  private readonly names: NameSources
  private readonly sheets: SheetsApi | null
  /** Last status noted per unfinished job (metrics, position updates). */
  private readonly counted = new Map<string, string>()
  /** Position last published per queued job. */
  private readonly positions = new Map<string, number>()
  private positionsScheduled = false

  constructor(
    deps: JobServiceDeps,
    private readonly options: JobOptions = {},
  ) {
    this.queue = deps.queue
    this.state = deps.state
    this.records = deps.records
    this.showIn = deps.registry.defineCall('inbox.show', showInInbox)
    this.metrics = deps.metrics
    this.names = { users: deps.users, titles: (workspace, collection, ids) => deps.records.reads.titles(workspace, collection, ids) }
    this.exportDir = options.exportDir ?? deps.defaultExportDir
    this.files = deps.files ?? new DiskExportFiles()
    this.sheets = this.createSheetsApi(options.sheets)
    this.runner = new JobRunner(
      this.queue,
      (job) => this.handlerFor(job),
      (job) => this.publish(job),
      { ...options, onError: deps.onError },
    )
  }

  start(): void {
    this.runner.start()
  }

  close(): Promise<void> {
    return this.runner.close()
  }

  get sheetsConfigured(): boolean {
    return this.sheets !== null
  }

  /**
   * Opens the spreadsheet a user pasted (its URL or id) once, to show its title: a spreadsheet
   * the server cannot open is refused before any export is queued for it.
   */
  async checkSpreadsheet(pasted: string): Promise<{ spreadsheetId: string; title: string }> {
    if (!this.sheets) throw new JobError('Google Sheets is not configured on this server')
    const spreadsheetId = spreadsheetIdOf(pasted)
    if (!spreadsheetId) throw new JobError("paste the spreadsheet's address (https://docs.google.com/spreadsheets/d/…) or its id")
    const title = await this.sheets.title(spreadsheetId, { signal: AbortSignal.timeout(SPREADSHEET_CHECK_MS) })
    return { spreadsheetId, title }
  }

  async sheetsSettings(owner: Owner): Promise<SheetsSettings> {
    if (!this.sheets) return { configured: false }
    const [mine, workspace] = await Promise.all([
      this.state.sheetTarget(owner),
      this.state.sheetTarget({ workspace: owner.workspace, userId: null }),
    ])
    return { configured: true, serviceAccount: this.sheets.accountEmail, ...(mine ? { mine } : {}), ...(workspace ? { workspace } : {}) }
  }

  /** Checks the pasted spreadsheet, then saves it as the user's own or (`sheet: 'workspace'`) the workspace's. */
  async saveSheet(owner: Owner, sheet: SavedSheet, pasted: string): Promise<SheetTarget> {
    const { spreadsheetId, title } = await this.checkSpreadsheet(pasted)
    const target = { spreadsheetId, title, savedBy: owner.userId, savedAt: Date.now() }
    await this.state.saveSheetTarget(this.sheetOwner(owner, sheet), target)
    return target
  }

  async forgetSheet(owner: Owner, sheet: SavedSheet): Promise<void> {
    await this.state.saveSheetTarget(this.sheetOwner(owner, sheet), null)
  }

  private sheetOwner(owner: Owner, sheet: SavedSheet) {
    return { workspace: owner.workspace, userId: sheet === 'workspace' ? null : owner.userId }
  }

  /** The spreadsheet a Sheets export goes to: the one named, else a saved one. */
  private async destinationOf(owner: Owner, request: ExportRequest): Promise<{ spreadsheetId: string; sheet: SavedSheet }> {
    if (request.spreadsheetId) {
      const workspace = await this.state.sheetTarget(this.sheetOwner(owner, 'workspace'))
      const sheet = workspace?.spreadsheetId === request.spreadsheetId ? 'workspace' : 'mine'
      return { spreadsheetId: request.spreadsheetId, sheet }
    }
    for (const sheet of request.sheet ? [request.sheet] : SAVED_SHEETS) {
      const target = await this.state.sheetTarget(this.sheetOwner(owner, sheet))
      if (target) return { spreadsheetId: target.spreadsheetId, sheet }
    }
    throw new JobError(
      request.sheet === 'workspace'
        ? 'the workspace has no spreadsheet yet: an owner or admin saves one on the Exports screen'
        : 'save the spreadsheet to sync to first (Exports, Google Sheets)',
    )
  }

  /** Queues an export; an identical export still queued for this user is returned instead. */
  async enqueueExport(owner: Owner, request: ExportRequest): Promise<JobJson> {
    const collections = COLLECTIONS.filter((c) => (request.collections ?? COLLECTIONS).includes(c))
    const destination = request.target === 'sheets' ? await this.destinationOf(owner, request) : undefined
    const params = { collections, ...destination }
    const key = [
      owner.userId,
      'export',
      request.target,
      collections.join(','),
      destination?.spreadsheetId ?? '',
      destination?.sheet ?? '',
    ].join('|')
    const { job, coalesced } = await this.queue.enqueue({
      ...owner,
      kind: 'export',
      target: request.target,
      params,
      counts: { exported: 0, added: 0, updated: 0, deleted: 0 },
      coalesceKey: key,
    })
    // Shown queued before the runner may claim it: every tab sees queued, then running.
    if (!coalesced) await this.publishQueued(job)
    return this.answerQueued(job)
  }

  async enqueueImport(owner: Owner, request: ImportRequest): Promise<JobJson> {
    const { job } = await this.queue.enqueue({
      ...owner,
      kind: 'import',
      target: 'csv',
      params: {
        collection: request.collection,
        onDuplicate: request.onDuplicate,
        fileName: request.fileName,
        ...(request.columns ? { columns: request.columns } : {}),
      },
      counts: { imported: 0, skipped: 0, invalid: 0, merged: 0 },
      coalesceKey: null,
      payload: request.csv,
    })
    await this.publishQueued(job)
    return this.answerQueued(job)
  }

  /**
   * The job as queued, with its position, read before the runner is told: once told, it may
   * claim the job (on PostgreSQL, while the position is still being read).
   */
  private async answerQueued(job: StoredJob): Promise<JobJson> {
    let json = await this.json(job)
    // A runner polling meanwhile (of this process or another) may have claimed it already: then
    // the answer says so rather than "queued" with no place in line.
    if (json.status === 'queued' && json.position === undefined) json = await this.json((await this.queue.get(job.id)) ?? job)
    this.runner.kick()
    return json
  }

  /** The owner's job, or undefined (another user's job is as good as missing). */
  async find(owner: Owner, id: string, kind: JobKind): Promise<StoredJob | undefined> {
    const job = await this.queue.get(id)
    return job && job.userId === owner.userId && job.workspace === owner.workspace && job.kind === kind ? job : undefined
  }

  async list(owner: Owner, kind: JobKind): Promise<JobJson[]> {
    const jobs = await this.queue.list(owner.userId, kind, MAX_LISTED_JOBS)
    return Promise.all(jobs.filter((job) => job.workspace === owner.workspace).map((job) => this.json(job)))
  }

  /** Jobs waiting in the queue, counted up to `QUEUED_COUNT_CAP` (a figure for the console, read at each scrape). */
  async queuedCount(): Promise<number> {
    return (await this.queue.queued(QUEUED_COUNT_CAP)).length
  }

  /** The workspace's queued, running and finished jobs, newest first, for its admins; each with its user. */
  async ofWorkspace(workspace: string): Promise<(JobJson & { userId: string })[]> {
    const jobs = await this.queue.ofWorkspace(workspace, JOB_STATUSES, MAX_LISTED_JOBS)
    return Promise.all(jobs.map(async (job) => ({ ...(await this.json(job)), userId: job.userId })))
  }

  /**
   * An admin's action on a job of their workspace [JQ8]: `retry` queues a failed job again,
   * `cancel` ends a queued or running one, `rerun` queues a new job with a finished one's
   * parameters. Undefined if the job is not in the workspace; a JobError if it is not in a state
   * the action applies to.
   */
  async adminAction(workspace: string, id: string, action: 'retry' | 'cancel' | 'rerun', by: string): Promise<JobJson | undefined> {
    const job = await this.queue.get(id)
    if (!job || job.workspace !== workspace) return undefined
    if (action === 'rerun') {
      if (job.status !== 'succeeded' && job.status !== 'failed') throw new JobError('only a finished job can be run again')
      if (job.kind === 'import') throw new JobError('an import cannot be run again: its file is not kept; upload it again')
      const counts = Object.fromEntries(Object.keys(job.counts).map((key) => [key, 0]))
      const { workspace: w, userId, kind, target, params } = job
      const { job: fresh } = await this.queue.enqueue({ workspace: w, userId, kind, target, params, counts, coalesceKey: null })
      await this.publishQueued(fresh)
      return this.answerQueued(fresh)
    }
    const changed = action === 'retry' ? await this.queue.requeue(id) : await this.queue.cancel(id, `cancelled by ${by}`)
    if (!changed) {
      throw new JobError(
        action === 'retry'
          ? job.kind === 'import' && job.status === 'failed'
            ? 'this import cannot be retried: its file is not kept; upload it again'
            : 'only a failed job can be retried'
          : 'only a queued or running job can be cancelled',
      )
    }
    if (action === 'cancel') this.runner.stop(id)
    this.publish(changed)
    if (action === 'retry') this.runner.kick()
    return this.json(changed)
  }

  /** The owner's running and queued jobs, and the one that finished last; never another user's. */
  async status(owner: Owner): Promise<JobStatusJson> {
    const [active, last] = await Promise.all([this.queue.active(owner.userId), this.queue.lastFinished(owner.userId)])
    const mine = active.filter((job) => job.workspace === owner.workspace)
    const running = mine.filter((job) => job.status === 'running').map((job) => toJobJson(job))
    const queued = mine.flatMap((job) => ('position' in job ? [toJobJson(job, job.position)] : []))
    return {
      isProcessing: running.length > 0,
      queueLength: queued.length,
      running,
      queued,
      lastFinished: last && last.workspace === owner.workspace ? toJobJson(last) : null,
    }
  }

  async json(job: StoredJob): Promise<JobJson> {
    return toJobJson(job, job.status === 'queued' ? await this.queue.position(job.id) : undefined)
  }

  private createSheetsApi(options: SheetsOptions | undefined): SheetsApi | null {
    if (!options?.credentials) return null
    const account = typeof options.credentials === 'string' ? loadServiceAccount(options.credentials) : options.credentials
    const perMinute = options.writesPerMinute ?? 60
    return new SheetsApi({
      account,
      apiRoot: options.apiRoot,
      bucket: new RequestQuota(perMinute, Math.max(1, Math.min(perMinute, 60))),
      retry: { ...DEFAULT_RETRY, ...options.retry },
    })
  }

  /** The job's handler, its retries counted in the metrics. */
  private handlerFor(job: StoredJob): JobHandler {
    const handler = this.handlerOf(job)
    const metrics = this.metrics
    if (!metrics) return handler
    return (ctx) =>
      handler({
        ...ctx,
        retrying: (retry) => {
          if (retry) metrics.jobRetryReasons.inc({ target: metricTarget(job), reason: retry.reason })
          ctx.retrying(retry)
        },
      })
  }

  /**
   * A spreadsheet's tabs: the workspace's are everyone's, any other carries its user's name (also
   * for jobs queued before every Sheets job named its sheet, which wrote plain tabs per user).
   */
  private async sheetsDestination(job: StoredJob): Promise<SheetsDestination> {
    const spreadsheetId = job.params.spreadsheetId as string
    if (job.params.sheet === 'workspace') return { spreadsheetId, stateOwner: '', tabSuffix: '' }
    const users = await this.names.users(job.workspace)
    const name = users.find((user) => user.id === job.userId)?.name ?? job.userId
    return { spreadsheetId, stateOwner: job.userId, tabSuffix: ` (${name})` }
  }

  private handlerOf(job: StoredJob): JobHandler {
    if (job.kind === 'import') {
      return async (ctx) => {
        const csv = await this.queue.payload(job.id)
        if (!csv) throw new JobError('the uploaded file is no longer available')
        return importCsv({ state: this.state, records: this.records, jobs: this.queue }, csv, ctx)
      }
    }
    const target = job.target as ExportTarget
    const collections = job.params.collections as Collection[]
    switch (target) {
      case 'csv':
      case 'xlsx':
        return async (ctx) => {
          await mkdir(this.exportDir, { recursive: true })
          const write = target === 'xlsx' ? exportXlsx : exportCsv
          const source = { records: this.records, names: this.names, workspace: job.workspace }
          const { counts, file, ...rest }: FileResult = await write(source, collections, join(this.exportDir, job.id), ctx)
          const kept = await this.files.keep(job.id, job.workspace, file)
          await this.pruneFiles(job)
          return { status: 'succeeded', counts, result: { ...rest, file: kept } }
        }
      case 'sheets':
        return async (ctx) => {
          if (!this.sheets) throw new JobError('Google Sheets is not configured on this server')
          const deps = {
            state: this.state,
            records: this.records,
            names: this.names,
            api: this.sheets,
            maxRequestBytes: this.options.sheets?.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
          }
          const destination = await this.sheetsDestination(job)
          const run = () => exportSheets(deps, destination, collections, ctx)
          // The workspace's spreadsheet has one sync state for everyone: one sync at a time.
          const counts =
            destination.stateOwner === ''
              ? await this.state.exclusive(`sheets:${job.workspace}:${destination.spreadsheetId}`, ctx.signal, run)
              : await run()
          return { status: 'succeeded', counts: { ...counts } }
        }
      default:
        return assertNever(target)
    }
  }

  /** Counts a new job and shows it queued in its user's inbox, before anything can claim it. */
  private async publishQueued(job: StoredJob): Promise<void> {
    this.noteStatus(job)
    await this.show(job).catch(() => undefined) // closing: the database or the room is gone
  }

  /** A job the runner changed; when it started, ended or was queued again, others' positions may have moved too. */
  private publish(job: StoredJob): void {
    const moved = this.noteStatus(job)
    this.show(job).catch(() => undefined) // closing: the database or the room is gone
    if (moved) this.schedulePositionUpdates()
  }

  /** Writes the job's current state into its user's inbox document (and a notification when it ends). */
  private async show(job: StoredJob, position?: number): Promise<void> {
    const json = position === undefined ? await this.json(job) : toJobJson(job, position)
    if (json.position === undefined) this.positions.delete(job.id)
    else this.positions.set(job.id, json.position)
    const ended = job.status === 'succeeded' || job.status === 'failed'
    await this.showIn(inboxDocName(job.workspace, job.userId), { json, notification: ended ? notificationOf(job) : undefined })
  }

  /** Deletes the user's older export files, keeping the newest MAX_FILES_PER_USER (this job's included). */
  private async pruneFiles(job: StoredJob): Promise<void> {
    const older = (await this.queue.list(job.userId, 'export', MAX_LISTED_JOBS))
      .filter((j) => j.id !== job.id && j.status === 'succeeded' && typeof j.result?.file === 'string')
      .slice(MAX_FILES_PER_USER - 1)
    for (const j of older) await this.files.remove(j.result!.file as string)
  }

  /** Tells the owners of the first queued jobs whose position moved (once per turn). */
  private schedulePositionUpdates(): void {
    if (this.positionsScheduled) return
    this.positionsScheduled = true
    setImmediate(() => {
      this.positionsScheduled = false
      this.queue.queued(MAX_POSITION_UPDATES).then(
        (jobs) => {
          for (const job of jobs) {
            if (this.positions.get(job.id) !== job.position) this.show(job, job.position).catch(() => undefined)
          }
        },
        () => undefined, // closing
      )
    })
  }

  /** Notes the job's status, counted in the metrics; false if it is the one noted last (progress, a retry). */
  private noteStatus(job: StoredJob): boolean {
    if (this.counted.get(job.id) === job.status) return false
    if (job.status === 'succeeded' || job.status === 'failed') this.counted.delete(job.id)
    else this.counted.set(job.id, job.status)
    if (!this.metrics) return true
    this.metrics.jobs.inc({ status: job.status, kind: job.kind })
    if (job.status === 'queued' && job.attempts > 0) {
      this.metrics.jobRetries.inc({ kind: job.kind })
      this.metrics.jobRetryReasons.inc({ target: metricTarget(job), reason: 'restarted' })
    }
    return true
  }
}

function describe(job: StoredJob): string {
  const what = job.kind === 'import' ? `Import into ${String(job.params.collection)}` : `Export to ${job.target.toUpperCase()}`
  if (job.status === 'failed') return `${what} failed: ${job.error ?? 'unknown error'}`
  const c = job.counts
  return job.kind === 'import'
    ? `${what} finished: ${c.imported} imported, ${c.skipped} skipped, ${c.merged ?? 0} merged, ${c.invalid} invalid`
    : `${what} finished: ${c.exported} records`
}

/** The `inbox.show` call: a job's state in its user's inbox document, and the notification of its end if it just ended. */
function showInInbox(room: AccordRoom, { json, notification }: { json: JobJson; notification?: JobNotification }): void {
  room.doc.transact(() => {
    const jobs = room.doc.getMap<JobJson>(INBOX_JOBS)
    const before = jobs.get(json.id)
    // States read before an await can arrive out of order (a position read just before the job was
    // claimed elsewhere): a job shown running or finished is never stepped back by an older state.
    if (before && jobStage(before) > jobStage(json)) return
    jobs.set(json.id, json)
    if (notification && before?.status !== notification.status) {
      appendNotification(room.doc.getArray<JobNotification>(INBOX_NOTIFICATIONS), notification)
    }
    trimJobs(jobs)
  }, serverOrigin('inbox'))
}

/** The notification of a job that ended. */
function notificationOf(job: StoredJob): JobNotification {
  return {
    id: `${job.id}:${job.status}`,
    at: new Date().toISOString(),
    kind: 'job',
    jobId: job.id,
    status: job.status as 'succeeded' | 'failed',
    message: describe(job),
  }
}

function trimJobs(jobs: Y.Map<JobJson>): void {
  if (jobs.size <= MAX_INBOX_JOBS) return
  const finished = [...jobs.values()]
    .filter((j) => j.status === 'succeeded' || j.status === 'failed')
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  for (const job of finished.slice(0, jobs.size - MAX_INBOX_JOBS)) jobs.delete(job.id)
}
