/**
 * Wires the parts together: database, stores, document registry, auth, HTTP API,
 * sync endpoint, static client. `start()` listens; `close()` persists and stops.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { dirname, join, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tmpdir } from 'node:os'
import express from 'express'
import { LIMITS, type Limits } from '../shared/protocol.js'
import { AuthService } from './auth/AuthService.js'
import { type Logger, requestLogger, silentLogger } from './log.js'
import { Metrics } from './metrics/Metrics.js'
import { requireAuth, principalOf } from './http/authenticate.js'
import { authRoutes, inviteRoutes } from './http/authRoutes.js'
import { viewRoutes } from './http/viewRoutes.js'
import { HttpError, errorHandler } from './http/errors.js'
import { OriginPolicy } from './auth/OriginPolicy.js'
import { recordRoutes } from './http/recordRoutes.js'
import { SalesWorkflow } from './records/SalesWorkflow.js'
import { searchRoutes } from './http/searchRoutes.js'
import { adminRoutes } from './http/adminRoutes.js'
import { Overview } from './metrics/Overview.js'
import { routeTemplateOf, trackRouteTemplate } from './http/routeTemplate.js'
import { jobRoutes } from './http/jobRoutes.js'
import { type JobOptions, JobService } from './jobs/JobService.js'
import { calendarRoutes } from './http/calendarRoutes.js'
import { InvoiceNumbering } from './authority/InvoiceNumbering.js'
import { ReservationAuthority } from './authority/ReservationAuthority.js'
import type { ReservationLedger } from './authority/ReservationLedger.js'
import { RecordIndex } from './records/RecordIndex.js'
import { LoginThrottle } from './limits/LoginThrottle.js'
import { RecordService } from './records/RecordService.js'
import { readsAfter } from './records/RecordReads.js'
import { staleProjections } from './records/staleProjections.js'
import type { Db } from './store/openDatabase.js'
import { type Backend, type PgTimeouts, openPgBackend, openSqliteBackend } from './backend.js'
import { DocRegistry, type RegistryOptions } from './sync/DocRegistry.js'
import type { PendingUpdate } from './sync/Room.js'
import { documentKinds } from './documents/documentKinds.js'
import { MentionNotices } from './records/MentionNotices.js'
import type { AccordRegistry, AccordRoom } from './documents/types.js'
import type { DocName } from '../shared/docNames.js'
import type { RecordProjection } from './records/recordProjection.js'
import { SyncEndpoint } from './sync/SyncEndpoint.js'
import type { ClusterMember, ClusterOptions } from './cluster/ClusterMember.js'

/** The defaults of the options the CLI and the environment set (one place for each). */
export const DEFAULTS = {
  db: './data/accord.db',
  host: '127.0.0.1',
  port: 8787,
  synchronous: 'full',
  writer: 'auto',
} as const

export interface AccordOptions {
  /** SQLite file. @default './data/accord.db' */
  db?: string
  /**
   * PostgreSQL instead of SQLite: `postgres://user@host:5432/database`. Such a server is
   * opened with `AccordServer.open()`, which connects and migrates first.
   */
  databaseUrl?: string
  /**
   * Runs the server as a member of a cluster (docs/cluster.md): `redis://host:6379`. Needs
   * `databaseUrl` (every member shares the PostgreSQL database).
   */
  redisUrl?: string
  /** The cluster member's label in logs and metrics (`ACCORD_NODE_ID`). @default `<host name>-<pid>` */
  node?: string
  /** Channel prefix and lease timings of the cluster (tests shorten the leases). */
  cluster?: Pick<ClusterOptions, 'prefix' | 'leaseMs' | 'renewEveryMs' | 'safetyMarginMs' | 'callTimeoutMs' | 'sweepEveryMs'>
  /** How long the server waits for PostgreSQL: readiness, statements, transactions (server/backend.ts). @default PG_TIMEOUTS */
  pgTimeouts?: PgTimeouts
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @default 8787 */
  port?: number
  /** Folder of the built client; served when it exists. @default '<repo>/dist' */
  clientDir?: string
  /** Sliding session lifetime. @default 7 days */
  sessionIdleMs?: number
  registry?: Pick<
    RegistryOptions<unknown, RecordProjection>,
    'unloadGraceMs' | 'compactAfterUpdates' | 'compactAfterBytes' | 'awarenessTimeoutMs'
  >
  /** Export and import jobs: concurrency, export folder, Google Sheets (server/jobs/JobService.ts). */
  jobs?: JobOptions
  /** How often the admin console's series takes a point (tests shorten it). @default 10 s (SAMPLE_EVERY_MS) */
  overviewSampleMs?: number
  /** Overrides of the trust-boundary limits (shared/protocol.ts). @default LIMITS */
  limits?: Partial<Limits>
  /**
   * SQLite `synchronous`: `full` fsyncs every commit, so an update is on stable storage
   * before it is broadcast; `normal` (WAL) survives a crash of the process but not of the
   * machine (see README, Benchmark).
   * @default 'full'
   */
  synchronous?: 'full' | 'normal'
  /**
   * Where document writes are committed: `thread`, always on a writer thread with its own
   * connection (the event loop never waits for a commit); `inline`, always on the event
   * loop; `auto`, on the event loop while commits are fast and on the writer thread while
   * they are slow (see ThreadedDocStore). An in-memory database is always written inline.
   * @default 'auto'
   */
  writer?: 'auto' | 'thread' | 'inline'
  /** pino logger (see server/log.ts). @default silent (the CLI passes one at `LOG_LEVEL`) */
  logger?: Logger
  /**
   * Origins (`scheme://host[:port]`) besides the server's own whose pages may use the session
   * cookie for a WebSocket upgrade or a state-changing request (server/auth/OriginPolicy.ts): a front
   * end served from another origin. Bearer tokens are not affected.
   * @default [] (the server's own origin only)
   */
  allowedOrigins?: readonly string[]
  /**
   * Trust the `X-Forwarded-*` headers of the proxy in front: `true` (or 1) trusts the one proxy
   * that connects to this server, a number N the last N hops of `X-Forwarded-For`. Then
   * `X-Forwarded-Proto: https` makes the session cookie `Secure`, `X-Forwarded-Host` names the
   * server's own origin, and the sign-in limit per address counts the client the proxy saw.
   * Only turn it on behind a proxy that sets these headers: otherwise any client could.
   * @default false
   */
  trustProxy?: boolean | number
  /** The rooms events are booked in, offered by every screen (`GET /api/calendar/rooms`). @default DEFAULT_ROOMS */
  rooms?: readonly string[]
}

/** The project folder, where `dist/` is: the nearest one above this module with a package.json (it may run bundled, from build/). */
const ROOT = projectRoot(dirname(fileURLToPath(import.meta.url)))

export class AccordServer {
  /** Where everything durable is kept: SQLite or PostgreSQL (server/backend.ts). */
  readonly backend: Backend
  readonly auth: AuthService
  readonly registry: AccordRegistry
  readonly records: RecordService
  /** Keeps the collections' index documents in step with the records. */
  readonly recordIndex: RecordIndex
  /** Export and import jobs; they run once the server is started. */
  readonly jobs: JobService
  /** The calendar authority: reservation ledger and decisions, invoice numbers. */
  readonly ledger: ReservationLedger
  readonly reservations: ReservationAuthority
  readonly invoices: InvoiceNumbering
  private readonly mentions: MentionNotices
  readonly sync: SyncEndpoint
  readonly app: express.Express
  readonly http: Server
  readonly logger: Logger
  /** Prometheus metrics of this server; reservations and jobs count through it too. */
  readonly metrics: Metrics
  /** The admin console's figures and series, read from `metrics`. */
  readonly overview: Overview
  private closing = false
  private closed: Promise<void> | undefined
  private url: string | null = null

  /**
   * The server on the backend that `options` name: PostgreSQL when `databaseUrl` is set (it
   * connects and migrates first, and rejects with one line when it cannot), else SQLite.
   */
  static async open(options: AccordOptions = {}): Promise<AccordServer> {
    if (options.redisUrl && !options.databaseUrl)
      throw new Error('a cluster member (ACCORD_REDIS_URL) needs ACCORD_DATABASE_URL: members share one PostgreSQL database')
    if (!options.databaseUrl) return new AccordServer(options)
    const logger = options.logger ?? silentLogger()
    let member: ClusterMember | undefined
    const backend = await openPgBackend({
      url: options.databaseUrl,
      timeouts: options.pgTimeouts,
      onError: (error) => logger.warn({ err: error }, 'PostgreSQL connection lost; the pool opens another'),
      // Bound below, before any document can be loaded (claims come first).
      fence: options.redisUrl ? (client, docs) => member!.fence(client, docs) : undefined,
    })
    if (!options.redisUrl) return new AccordServer(options, backend)
    let server: AccordServer | undefined
    try {
      // Loaded here only: a server that is not a cluster member never loads node-redis.
      const { ClusterMember } = await import('./cluster/ClusterMember.js')
      member = await ClusterMember.start(
        options.databaseUrl,
        { redisUrl: options.redisUrl, node: options.node, ...options.cluster },
        {
          onLost: (doc) => server?.registry.lost(doc),
          onError: (error, context) => logger.error({ err: error, context }, `cluster: ${context} failed`),
        },
      )
    } catch (error) {
      await backend.close()
      throw error
    }
    server = new AccordServer(options, backend, member)
    return server
  }

  /** On SQLite (`options.db`) unless `backend` is given; `AccordServer.open()` opens PostgreSQL. */
  constructor(
    readonly options: AccordOptions = {},
    backend?: Backend,
    /** This server as a cluster member (`AccordServer.open()` with `redisUrl`), else null. */
    readonly cluster: ClusterMember | null = null,
  ) {
    this.logger = options.logger ?? silentLogger()
    const onError = (error: unknown, context: string) => this.logger.error({ err: error, context }, `${context} failed`)
    this.metrics = new Metrics({
      connections: () => this.sync.connectionCount,
      loadedDocuments: () => this.registry.size,
      usersOnline: () => this.sync.usersOnline,
      jobsRunning: () => this.jobs.runner.stats().running,
      jobsQueued: () => this.jobs.queuedCount(),
    })
    // Every series of a member says which one it is: the members' scrapes sum up to the cluster's.
    if (cluster) {
      this.metrics.registry.setDefaultLabels({ node: cluster.node })
      this.metrics.observeLease(() => cluster.canWrite())
    }
    if (!backend && options.databaseUrl) throw new Error('a server on PostgreSQL is opened with AccordServer.open()')
    const file = options.db ?? DEFAULTS.db
    this.backend = backend ?? openSqliteBackend({ file, synchronous: options.synchronous, writer: options.writer })
    this.auth = new AuthService(this.backend.authStore, { sessionIdleMs: options.sessionIdleMs, onError })
    const store = this.backend.docStore
    this.registry = new DocRegistry(store, {
      // On SQLite a record's row is written just after its updates (their broadcast waits for
      // neither), with the log position a start checks (staleProjections).
      projectAfterBroadcast: this.backend.kind === 'sqlite',
      ...options.registry,
      resolve: documentKinds({
        storedFields: (name) => this.backend.recordReads.storedFields(name),
        userName: (userId) => this.auth.userName(userId),
        workspaceUsers: (workspace) => this.auth.workspaceUsers(workspace),
      }),
      outbox: this.backend.outbox,
      ownership: cluster ?? undefined,
      forwarding: cluster?.forwarding,
      onRepaired: (doc, issues) => this.logger.warn({ doc, issues }, 'stored record repaired on load'),
      onCommitted: (room, updates, projection, log, projected) => {
        // A member owns what it commits: its relays hear of it first, then the effects run.
        if (log)
          this.cluster?.publishCommitted(
            room.docName,
            log.first,
            updates.map((u) => u.update),
          )
        this.afterCommit(room, updates, projection, projected)
      },
      onError,
      metrics: this.metrics,
    })
    const served =
      cluster && this.backend.pool
        ? cluster.serve<DocName>(this.backend.pool, (doc, name, args) => this.registry.runCall(doc, name, args))
        : null
    if (served) this.registry.onLoad(served.onLoad)
    const reads = readsAfter(this.backend.recordReads, () => this.registry.projectionsWritten())
    this.records = new RecordService(this.registry, reads)
    this.recordIndex = new RecordIndex(this.registry, onError, (workspace, collection) => reads.all(workspace, collection))
    // Beside the SQLite file; on PostgreSQL, in ./data/exports unless ACCORD_EXPORT_DIR says otherwise.
    const exportDir =
      file === ':memory:' && this.backend.kind === 'sqlite'
        ? join(tmpdir(), 'accord-exports')
        : join(dirname(resolvePath(this.backend.kind === 'postgres' ? DEFAULTS.db : file)), 'exports')
    const { jobQueue, jobState } = this.backend
    this.jobs = new JobService(
      {
        queue: jobQueue,
        state: jobState,
        defaultExportDir: exportDir,
        files: this.backend.exportFiles ?? undefined,
        records: this.records,
        registry: this.registry,
        users: (workspace) => this.auth.listUsers(workspace),
        metrics: this.metrics,
        onError,
      },
      options.jobs,
    )
    this.ledger = this.backend.ledger
    this.reservations = new ReservationAuthority({
      registry: this.registry,
      ledger: this.ledger,
      onError,
      onDecision: (outcome) => this.metrics.reservationDecisions.inc({ outcome }),
    })
    this.invoices = new InvoiceNumbering(this.backend.invoiceNumbers, this.registry, onError)
    this.mentions = new MentionNotices({
      registry: this.registry,
      userName: (userId) => this.auth.userName(userId),
      onError,
      limits: options.limits,
    })
    this.overview = new Overview(
      {
        registry: this.metrics.registry,
        busiestDocuments: (limit) => this.sync.busiestDocuments(limit),
        node: cluster?.node ?? null,
      },
      { everyMs: options.overviewSampleMs, onError: (error) => onError(error, 'admin overview sample') },
    )
    const trustProxy = options.trustProxy === true ? 1 : options.trustProxy || 0
    const origins = new OriginPolicy({ allowedOrigins: options.allowedOrigins, trustProxy: trustProxy > 0 })
    this.sync = new SyncEndpoint({
      auth: this.auth,
      registry: this.registry,
      onError,
      limits: options.limits,
      origins,
      onDropped: (reason) => this.metrics.socketsDropped.inc({ reason }),
      relays: served?.relays,
    })
    const { LOGIN_FAILURES_PER_ACCOUNT, LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS } = { ...LIMITS, ...options.limits }
    const throttle = new LoginThrottle(this.backend.throttleStore, {
      attemptsPerAccount: LOGIN_FAILURES_PER_ACCOUNT,
      attemptsPerAddress: LOGIN_FAILURES_PER_ADDRESS,
      windowMs: LOGIN_WINDOW_MS,
    })

    const app = express()
    app.disable('x-powered-by')
    app.set('etag', false)
    app.set('trust proxy', trustProxy)
    app.use(trackRouteTemplate)
    app.use(
      requestLogger(this.logger, (req, status, seconds) => this.metrics.httpAnswered(req.method, routeTemplateOf(req), status, seconds)),
    )
    app.use(express.json({ limit: options.limits?.MAX_BODY_BYTES ?? LIMITS.MAX_BODY_BYTES }))
    // No id, cursor or name holds a NUL (U+0000): PostgreSQL's text cannot. A URL with one
    // would fail there (500) where SQLite finds nothing, so it is refused on both.
    app.use((req, _res, next) => {
      next(
        /%00/i.test(req.originalUrl) ? new HttpError(400, 'invalid', 'the URL holds a NUL character (U+0000)', { issues: [] }) : undefined,
      )
    })
    app.get('/healthz', (_req, res) => {
      res.json({ ok: true })
    })
    app.get('/readyz', (_req, res, next) => {
      this.isReady().then((ready) => res.status(ready ? 200 : 503).json({ ok: ready }), next)
    })
    app.get('/metrics', (_req, res, next) => {
      this.metrics.text().then((text) => res.type(this.metrics.contentType).send(text), next)
    })
    app.use(
      '/api/auth',
      authRoutes({
        auth: this.auth,
        onSessionEnded: (id) => this.sync.closeSession(id),
        throttle,
        origins,
        onRefused: (reason) => this.metrics.signInRefusals.inc({ reason }),
      }),
    )
    app.use('/api/invites', inviteRoutes(this.auth))
    app.use('/api', requireAuth(this.auth, origins))
    app.get('/api/me', async (req, res) => {
      res.json(await this.auth.getUser(principalOf(req).userId))
    })
    app.get('/api/users', async (req, res) => {
      res.json({ items: await this.auth.listUsers(principalOf(req).workspace) })
    })
    app.use('/api/admin', adminRoutes({ overview: this.overview, auth: this.auth, jobs: this.jobs }))
    app.get('/api/workspace', async (req, res) => {
      const { workspace } = principalOf(req)
      res.json({ id: workspace, name: (await this.auth.workspaceName(workspace)) ?? workspace })
    })
    app.use('/api/records', recordRoutes(this.records, new SalesWorkflow(this.registry, this.records)))
    app.use('/api/views', viewRoutes(this.backend.views))
    app.use('/api/search', searchRoutes(this.records))
    app.use('/api', jobRoutes(this.jobs))
    app.use('/api/calendar', calendarRoutes({ ledger: this.ledger, reservations: this.reservations, rooms: options.rooms }))
    app.use('/api', (_req, _res, next) => next(new HttpError(404, 'not-found', 'no such endpoint')))
    const clientDir = options.clientDir ?? join(ROOT, 'dist')
    if (existsSync(join(clientDir, 'index.html'))) {
      app.use(express.static(clientDir, { index: false, maxAge: '1h' }))
      app.get(/^\/(?!api\/|sync\/).*/, (_req, res) => res.sendFile(join(clientDir, 'index.html')))
    }
    app.use(errorHandler((error) => onError(error, 'http')))
    this.app = app

    this.http = createServer(app)
    this.http.on('upgrade', (req, socket, head) => this.sync.handleUpgrade(req, socket, head))
    this.http.on('clientError', answerClientError)
  }

  /**
   * What follows a commit of a document's updates (they are on disk and broadcast): the
   * record's entry in its collection's index, then the authorities' reactions (a booking
   * decision, an invoice number). Each is written back as a server transaction, committed
   * like any edit.
   */
  private afterCommit(
    room: AccordRoom,
    updates: PendingUpdate[],
    projection: RecordProjection | undefined,
    projected: readonly PendingUpdate[],
  ): void {
    if (room.name.kind === 'record') {
      const overwrites = updates.reduce((n, u) => n + (u.overwritten?.length ?? 0), 0)
      if (overwrites > 0) this.metrics.overwrites.inc({ collection: room.name.collection }, overwrites)
    }
    for (const [effect, run] of [
      ['record index', () => this.recordIndex.handleCommitted(room, projected, projection)],
      ['reservations', () => this.reservations.handleCommitted(room, updates)],
      ['invoice numbers', () => this.invoices.handleCommitted(room, updates)],
      ['mentions', () => this.mentions.handleCommitted(room, updates)],
    ] as const) {
      try {
        run()
      } catch (error) {
        this.logger.error({ err: error, context: effect, doc: room.docName }, `${effect} failed after a commit`)
      }
    }
  }

  /** The SQLite database, for tests and tools; on PostgreSQL there is none. */
  get db(): Db {
    if (!this.backend.db) throw new Error('this server keeps its data on PostgreSQL, not SQLite')
    return this.backend.db
  }

  /**
   * Puts right what a stop may have left half done (bookings and invoice numbers not yet
   * mirrored into their documents, index entries of incomplete records) and what an upgrade
   * left to do (search texts of records stored before there were any), then listens;
   * resolves with the actual URL (the port may have been 0).
   */
  async start(): Promise<string> {
    const reads = this.backend.recordReads
    // Rows a crash left behind their updates (written just after them, on SQLite), before anyone reads them.
    if (this.backend.db) {
      for (const { docName, missed, at, author } of staleProjections(this.backend.db)) {
        this.logger.warn({ doc: docName, missed }, 'record row behind its log after a stop: projected again')
        await this.registry.reproject(docName, missed, at, author)
      }
    }
    await reads.fillSearchText()
    const [events, invoices, incomplete] = await Promise.all([reads.stored('events'), reads.stored('invoices'), reads.incomplete()])
    void this.reservations.reconcile(events)
    void this.invoices.reconcile(invoices)
    void this.recordIndex.dropEntries(incomplete)
    await this.backend.outbox.expire()
    const host = this.options.host ?? DEFAULTS.host
    return new Promise((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen(this.options.port ?? DEFAULTS.port, host, () => {
        const { port } = this.http.address() as AddressInfo
        this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
        this.jobs.start()
        this.overview.start()
        resolve(this.url)
      })
    })
  }

  get baseUrl(): string {
    if (!this.url) throw new Error('not started')
    return this.url
  }

  /** Listening, not shutting down, documents can be written (a cluster member: its lease is live), and the database answers. */
  async isReady(): Promise<boolean> {
    if (!this.url || this.closing || !this.http.listening || this.registry.storeFailure()) return false
    if (this.cluster && !this.cluster.canWrite()) return false
    try {
      await this.backend.ping()
      return true
    } catch {
      return false
    }
  }

  /** Idempotent: a second call (a second SIGTERM, a test's cleanup) waits for the first. */
  close(): Promise<void> {
    this.closed ??= this.shutDown()
    return this.closed
  }

  private async shutDown(): Promise<void> {
    this.closing = true
    // A member leaving claims nothing more: a document it would load now would be handed over at once.
    this.cluster?.leave()
    await this.overview.close()
    await this.sync.close()
    await this.jobs.close()
    await this.reservations.close()
    await this.invoices.close()
    await this.recordIndex.close()
    await this.registry.close()
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve())
      this.http.closeAllConnections()
    })
    await this.auth.writeTouches()
    // After the last commits: its documents are released for the other members at once.
    await this.cluster?.stop()
    await this.backend.close()
    this.metrics.close()
  }
}

function projectRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) return join(from, '..')
  }
}

/**
 * A request Node's HTTP parser refuses before express sees it (headers or a URL over
 * `--max-http-header-size`, bytes that are not HTTP) is answered in the contract's error
 * format too, where Node would answer with an empty body.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const [status, reason, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'too-large', 'the request’s URL and headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'timeout', 'the request did not arrive in time']
        : [400, 'Bad Request', 'invalid', 'the request is not valid HTTP']
  const body = JSON.stringify({ error: { code, message, ...(code === 'invalid' ? { issues: [] } : {}) } })
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}
