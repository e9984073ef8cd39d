/**
 * The `accord` command. Errors print one line to stderr and exit non-zero.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { AccordServer, type AccordOptions, DEFAULTS } from '../AccordServer.js'
import { AuthError, AuthService } from '../auth/AuthService.js'
import { SqliteAuthStore } from '../auth/SqliteAuthStore.js'
import { type Db, openDatabase } from '../store/openDatabase.js'
import { parseOrigin } from '../auth/OriginPolicy.js'
import { createLogger } from '../log.js'
import { checkPort, listenFailure } from './checkPort.js'
import { jobOptionsFromEnv } from '../jobs/jobEnv.js'
import { simulate } from './simulate.js'
import { RestoreRefused, backupSqlite, fileKind, holdExclusively, isBusy, restoreSqlite, unrestorable } from './sqliteBackup.js'
import { DEMO_PASSWORD, DEMO_USERS, isEmptyDatabase, isLoopback, seedDemo } from '../seed/demo.js'
import { MAX_FIELD_LENGTH } from '../../shared/collections.js'

/**
 * node-postgres and the PostgreSQL modules, loaded only by a command that works on
 * PostgreSQL: a SQLite installation never loads them.
 */
async function postgres() {
  const [{ PgAuthStore }, { migrate: migratePg }, { copyFromSqlite }, { backupPg, restorePg }, { displayUrl, openPool }] =
    await Promise.all([
      import('../auth/PgAuthStore.js'),
      import('../pg/migrate.js'),
      import('../pg/copyFromSqlite.js'),
      import('./pgBackup.js'),
      import('../pg/openPool.js'),
    ])
  return { PgAuthStore, migratePg, copyFromSqlite, backupPg, restorePg, displayUrl, openPool }
}

const USAGE = `usage: accord <command>
  serve [--host H] [--port P] [--db FILE | --database-url URL]
  workspace add <id> [--name NAME] [--db FILE | --database-url URL]
  user add --workspace ID --email E --password P --role owner|admin|member|viewer [--name N] [--db FILE | --database-url URL]
  demo [--db FILE | --database-url URL]
  backup <file> [--db FILE | --database-url URL]
  restore <file> [--db FILE [--force] | --database-url URL]
  migrate-from-sqlite [--db FILE] [--database-url URL]
  simulate [--users N] [--duration SECONDS] [--url URL] [--db FILE | --database-url URL]
  migrate [--database-url URL]`

class UsageError extends Error {}

const env = process.env
const dbPath = (value: unknown) => (typeof value === 'string' ? value : (env.ACCORD_DB ?? DEFAULTS.db))

/** Where the data is: `--database-url` or ACCORD_DATABASE_URL selects PostgreSQL, else the SQLite file of `--db` or ACCORD_DB. */
function storage(values: { db?: string; 'database-url'?: string }): { db: string; databaseUrl?: string } {
  const databaseUrl = values['database-url'] || env.ACCORD_DATABASE_URL || undefined
  if (databaseUrl && values.db) throw new UsageError('--db and --database-url name two databases; give one')
  return { db: dbPath(values.db), databaseUrl }
}

function parse<O extends Record<string, { type: 'string' | 'boolean' }>>(args: string[], options: O) {
  try {
    const parsed = parseArgs({
      args,
      options: { db: { type: 'string' as const }, 'database-url': { type: 'string' as const }, ...options },
      allowPositionals: true,
      strict: true,
    })
    type Values = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string } & { db?: string; 'database-url'?: string }
    return parsed as { values: Values; positionals: string[] }
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!)
  }
}

function required(values: Partial<Record<string, string>>, name: string): string {
  const value = values[name]
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`)
  return value
}

/**
 * The server on PostgreSQL (`options.databaseUrl`) or on the SQLite file `options.db`; a
 * database that cannot be reached, opened or created is one line naming it.
 */
async function openServer(options: AccordOptions & { db: string }): Promise<AccordServer> {
  try {
    return await AccordServer.open(options)
  } catch (error) {
    const code = (error as { code?: string }).code ?? ''
    if (code.startsWith('SQLITE_') || /^E[A-Z]+$/.test(code))
      throw new Error(`cannot open the database ${options.db} (${(error as Error).message})`)
    throw error
  }
}

/** A bind error as one line that says what to do; any other error as it is. */
function listenError(error: unknown, host: string, port: number): unknown {
  const line = listenFailure(error, host, port)
  return line === null ? error : new Error(line)
}

/**
 * Workspaces and users on the database alone: no documents, jobs or reconciliation started
 * for one row. PostgreSQL is migrated first (a new database gets its tables).
 */
async function withAuth<T>({ db, databaseUrl }: { db: string; databaseUrl?: string }, fn: (auth: AuthService) => Promise<T>): Promise<T> {
  if (databaseUrl) {
    const { openPool, migratePg, PgAuthStore } = await postgres()
    const pool = await openPool(databaseUrl, { max: 1 })
    try {
      await migratePg(pool)
      return await fn(new AuthService(new PgAuthStore(pool)))
    } finally {
      await pool.end()
    }
  }
  let database: Db
  try {
    database = openDatabase(db)
  } catch (error) {
    throw new Error(`cannot open the database ${db} (${(error as Error).message})`)
  }
  try {
    return await fn(new AuthService(new SqliteAuthStore(database)))
  } finally {
    database.close()
  }
}

async function withServer<T>(where: { db: string; databaseUrl?: string }, fn: (server: AccordServer) => Promise<T>): Promise<T> {
  const server = await openServer(where)
  try {
    return await fn(server)
  } finally {
    await server.registry.close()
    await server.backend.close()
  }
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse(args, { host: { type: 'string' }, port: { type: 'string' } } as const)
  const host = values.host ?? env.HOST ?? DEFAULTS.host
  const port = Number(values.port ?? env.PORT ?? DEFAULTS.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port must be 0-65535, not "${values.port ?? env.PORT}"`)
  const seed = env.ACCORD_SEED ?? 'demo'
  if (seed !== 'demo' && seed !== 'none') throw new UsageError(`ACCORD_SEED must be "demo" or "none", not "${seed}"`)
  const idle = env.ACCORD_SESSION_IDLE_MS
  const sessionIdleMs = idle === undefined || idle === '' ? undefined : Number(idle)
  if (sessionIdleMs !== undefined && (!Number.isInteger(sessionIdleMs) || sessionIdleMs < 1000)) {
    throw new UsageError(`ACCORD_SESSION_IDLE_MS must be a whole number of milliseconds >= 1000, not "${idle}"`)
  }
  // Jobs: ACCORD_JOB_CONCURRENCY, ACCORD_JOB_LEASE_MS, ACCORD_EXPORT_DIR, ACCORD_SHEETS_CREDENTIALS (or
  // GOOGLE_APPLICATION_CREDENTIALS), ACCORD_SHEETS_API_ROOT, ACCORD_SHEETS_WRITES_PER_MINUTE (README, Configuration).
  const jobs = jobOptionsFromEnv(env)
  const synchronous = env.ACCORD_SYNCHRONOUS ?? DEFAULTS.synchronous
  if (synchronous !== 'full' && synchronous !== 'normal')
    throw new UsageError(`ACCORD_SYNCHRONOUS must be "full" or "normal", not "${synchronous}"`)
  const writer = env.ACCORD_WRITER ?? DEFAULTS.writer
  if (writer !== 'auto' && writer !== 'thread' && writer !== 'inline')
    throw new UsageError(`ACCORD_WRITER must be "auto", "thread" or "inline", not "${writer}"`)
  const allowedOrigins = allowedOriginsOf(env.ACCORD_ALLOWED_ORIGINS)
  const trustProxy = trustProxyOf(env.ACCORD_TRUST_PROXY)
  const rooms = roomsOf(env.ACCORD_ROOMS)
  const logger = createLogger(env.LOG_LEVEL ?? 'info', env.LOG_FORMAT)
  const where = storage(values)
  // A cluster member (docs/cluster.md): the members share one PostgreSQL database.
  const redisUrl = env.ACCORD_REDIS_URL || undefined
  if (redisUrl && !where.databaseUrl)
    throw new UsageError(
      'ACCORD_REDIS_URL makes a cluster member, which needs ACCORD_DATABASE_URL (the members share one PostgreSQL database)',
    )
  const cluster = clusterLeaseOf(env.ACCORD_CLUSTER_LEASE_MS)
  // Before the database: a taken port must not leave a created, seeded file behind.
  await checkPort(host, port).catch((error: unknown) => {
    throw listenError(error, host, port)
  })
  const server = await openServer({
    ...where,
    redisUrl,
    node: env.ACCORD_NODE_ID || undefined,
    cluster,
    host,
    port,
    logger,
    sessionIdleMs,
    jobs,
    synchronous,
    writer,
    allowedOrigins,
    trustProxy,
    rooms,
  })
  if (seed === 'demo' && isLoopback(host) && (await isEmptyDatabase(server))) {
    await seedDemo(server)
    console.log(
      `seeded the demo workspace; sign in as ${DEMO_USERS.map((u) => `${u.email} (${u.role})`).join(', ')} with password ${DEMO_PASSWORD}`,
    )
  }
  const url = await server.start().catch((error: unknown) => {
    throw listenError(error, host, port)
  })
  console.log(`accord listening on ${url}`)
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/**
 * `ACCORD_CLUSTER_LEASE_MS`: a member's lease (default 5000), so how long a killed member's
 * documents wait for another owner; renewals and the safety margin are a fifth of it, at most
 * a second each, so that a member stops writing well before its lease ends.
 */
function clusterLeaseOf(value: string | undefined): { leaseMs: number; renewEveryMs: number; safetyMarginMs: number } | undefined {
  if (value === undefined || value === '') return undefined
  const leaseMs = Number(value)
  if (!Number.isInteger(leaseMs) || leaseMs < 500)
    throw new UsageError(`ACCORD_CLUSTER_LEASE_MS must be a whole number of milliseconds >= 500, not "${value}"`)
  const fifth = Math.min(1000, Math.floor(leaseMs / 5))
  return { leaseMs, renewEveryMs: fifth, safetyMarginMs: fifth }
}

/** `ACCORD_ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]`, each checked here so a typo stops the start. */
function allowedOriginsOf(value: string | undefined): string[] {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  for (const entry of entries) {
    if (!parseOrigin(entry))
      throw new UsageError(`ACCORD_ALLOWED_ORIGINS: "${entry}" is not an origin (scheme://host[:port], e.g. https://crm.example.com)`)
  }
  return entries
}

/** `ACCORD_ROOMS`: the rooms events are booked in, comma-separated; unset, the built-in list. */
function roomsOf(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const rooms = [...new Set(value.split(',').map((room) => room.trim()))].filter((room) => room !== '')
  const tooLong = rooms.find((room) => room.length > MAX_FIELD_LENGTH)
  if (tooLong) throw new UsageError(`ACCORD_ROOMS: a room name is at most ${MAX_FIELD_LENGTH} characters, not "${tooLong.slice(0, 40)}…"`)
  return rooms
}

/** `ACCORD_TRUST_PROXY`: `off` (default), `on` (the one proxy in front), or how many proxies are in front. */
function trustProxyOf(value: string | undefined): boolean | number {
  const setting = (value ?? 'off').trim().toLowerCase()
  if (setting === 'off' || setting === 'false' || setting === '') return false
  if (setting === 'on' || setting === 'true') return true
  const hops = Number(setting)
  if (/^\d+$/.test(setting) && Number.isSafeInteger(hops)) return hops
  throw new UsageError(`ACCORD_TRUST_PROXY must be "on", "off" or the number of proxies in front (1, 2, …), not "${value}"`)
}

async function workspace(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { name: { type: 'string' } } as const)
  if (positionals[0] !== 'add' || !positionals[1]) throw new UsageError('usage: accord workspace add <id> [--name NAME]')
  await withAuth(storage(values), (auth) => auth.addWorkspace(positionals[1]!, values.name ?? positionals[1]!))
  console.log(`workspace ${positionals[1]} added`)
}

async function user(args: string[]): Promise<void> {
  const opts = {
    workspace: { type: 'string' },
    email: { type: 'string' },
    password: { type: 'string' },
    role: { type: 'string' },
    name: { type: 'string' },
  } as const
  const { values, positionals } = parse(args, opts)
  if (positionals[0] !== 'add') throw new UsageError('usage: accord user add --workspace ID --email E --password P --role ROLE')
  const input = {
    workspace: required(values, 'workspace'),
    email: required(values, 'email'),
    password: required(values, 'password'),
    role: required(values, 'role'),
    name: values.name,
  }
  const created = await withAuth(storage(values), (auth) => auth.addUser(input))
  console.log(`user ${created.email} (${created.role}) added to ${created.workspace} as ${created.id}`)
}

async function demo(args: string[]): Promise<void> {
  const { values } = parse(args, {})
  await withServer(storage(values), async (server) => {
    if (await server.auth.hasWorkspace('demo')) throw new UsageError('the demo workspace exists already')
    await seedDemo(server)
  })
  console.log(`demo workspace seeded; password for every demo user: ${DEMO_PASSWORD}`)
}

async function backup(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {})
  const target = positionals[0]
  if (!target) throw new UsageError('usage: accord backup <file> [--db FILE | --database-url URL]')
  const { db, databaseUrl } = storage(values)
  if (existsSync(target)) throw new UsageError(`${target} exists already; choose a new file`)
  if (databaseUrl) {
    await (await postgres()).backupPg(databaseUrl, target)
  } else {
    if (!existsSync(db)) throw new UsageError(`no database at ${db}`)
    await backupSqlite(db, target)
  }
  console.log(`backup written to ${target}`)
}

/**
 * Puts a backup back: on SQLite in place of the database file (kept beside it) once no
 * process has it open; on PostgreSQL into an empty database.
 */
async function restore(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { force: { type: 'boolean' } } as const)
  const file = positionals[0]
  if (!file) throw new UsageError('usage: accord restore <file> [--db FILE [--force] | --database-url URL]')
  if (!existsSync(file)) throw new UsageError(`no backup at ${file}`)
  const { db, databaseUrl } = storage(values)
  if (databaseUrl) {
    if (values.force) throw new UsageError('--force is for SQLite; a PostgreSQL restore goes into an empty database only')
    const kind = fileKind(file)
    if (kind === 'sqlite')
      throw new UsageError(
        `${file} is a SQLite database: restore it with --db FILE, or copy it into PostgreSQL with accord migrate-from-sqlite`,
      )
    if (kind !== 'pg_dump') throw new UsageError(`${file} is not a pg_dump archive (accord backup --database-url writes one)`)
    const { restorePg, displayUrl } = await postgres()
    const version = await restorePg(databaseUrl, file)
    console.log(`restored ${file} into ${displayUrl(databaseUrl)}${version === null ? '' : ` (schema version ${version})`}`)
    return
  }
  if (resolve(file) === resolve(db)) throw new UsageError(`${file} is the database itself; restore from a backup file`)
  const why = unrestorable(file)
  if (why) throw new Error(why)
  try {
    const { kept } = await restoreSqlite(file, db, values.force === true)
    console.log(`restored ${file} to ${db}${kept ? `; the previous database is kept as ${kept}` : ''}`)
  } catch (error) {
    throw error instanceof RestoreRefused ? new UsageError(error.message) : error
  }
}

/**
 * Copies the SQLite installation of `--db` into the empty PostgreSQL database of
 * `--database-url` (migrated first), and prints every table's row count, checked on both sides.
 */
async function migrateFromSqlite(args: string[]): Promise<void> {
  const { values } = parse(args, {})
  const url = values['database-url'] || env.ACCORD_DATABASE_URL
  if (!url)
    throw new UsageError('migrate-from-sqlite needs --database-url or ACCORD_DATABASE_URL: the empty PostgreSQL database to copy into')
  const file = dbPath(values.db)
  if (!existsSync(file)) throw new UsageError(`no database at ${file}`)
  const { displayUrl, openPool, migratePg, copyFromSqlite } = await postgres()
  const shown = displayUrl(url)
  const sqlite = openDatabase(file)
  try {
    // Held until the end: a server writing meanwhile would write what PostgreSQL never gets.
    try {
      holdExclusively(sqlite)
    } catch (error) {
      if (isBusy(error)) throw new Error(`${file} is open in another process (a running accord?); stop it first`)
      throw error
    }
    const pool = await openPool(url, { max: 1 })
    try {
      const { version } = await migratePg(pool)
      const { tables, ms } = await copyFromSqlite(sqlite, pool)
      const width = Math.max(...tables.map((t) => t.name.length))
      console.log(
        `copied ${file} into ${shown} (schema version ${version}) in ${(ms / 1000).toFixed(1)} s; rows per table, equal on both sides:`,
      )
      for (const { name, rows } of tables) console.log(`  ${name.padEnd(width)}  ${rows}`)
    } finally {
      await pool.end()
    }
  } finally {
    sqlite.close()
  }
}

/**
 * Brings a PostgreSQL database's schema up to date and stops (the server does not run on
 * PostgreSQL yet: docs/postgresql.md). Safe beside other migrators: they serialize.
 */
async function migrate(args: string[]): Promise<void> {
  const { values } = parse(args, { 'database-url': { type: 'string' } } as const)
  const url = values['database-url'] || env.ACCORD_DATABASE_URL
  if (!url) throw new UsageError('migrate needs --database-url or ACCORD_DATABASE_URL (postgres://user@host:5432/database)')
  const { displayUrl, openPool, migratePg } = await postgres()
  const shown = displayUrl(url)
  const pool = await openPool(url, { max: 1 })
  try {
    const { applied, version } = await migratePg(pool)
    console.log(
      applied.length === 0
        ? `${shown} is up to date (schema version ${version})`
        : `${shown} migrated to schema version ${version} (applied ${applied.join(', ')})`,
    )
  } finally {
    await pool.end()
  }
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  serve,
  workspace,
  user,
  demo,
  backup,
  restore,
  'migrate-from-sqlite': migrateFromSqlite,
  simulate,
  migrate,
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  const run = command ? COMMANDS[command] : undefined
  if (!run) {
    console.error(command ? `accord: unknown command "${command}"\n${USAGE}` : USAGE)
    process.exit(2)
  }
  try {
    await run(rest)
  } catch (error) {
    if (error instanceof UsageError || error instanceof AuthError) {
      console.error(`accord: ${error.message}`)
      process.exit(2)
    }
    const message = (error as { code?: string }).code === 'SQLITE_CANTOPEN' ? 'cannot open the database file' : (error as Error).message
    console.error(`accord: ${message}`)
    process.exit(1)
  }
}
