/**
 * `accord migrate-from-sqlite`, through the real CLI: a SQLite installation built by a real
 * server (the demo workspace, edits over y-websocket providers, bookings, an invoice number,
 * finished export and import jobs) is copied into a fresh PostgreSQL database, compared row by
 * row and document by document, then served from PostgreSQL with the same answers.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { AccordServer } from '../server/AccordServer.js'
import { PgReservationLedger } from '../server/authority/PgReservationLedger.js'
import { SqliteReservationLedger } from '../server/authority/SqliteReservationLedger.js'
import { PgJobQueue } from '../server/jobs/PgJobQueue.js'
import { SqliteJobQueue } from '../server/jobs/SqliteJobQueue.js'
import { COPIED_TABLES } from '../server/pg/copiedTables.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { DEMO_PASSWORD, seedDemo } from '../server/seed/demo.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { SqliteDocStore } from '../server/store/SqliteDocStore.js'
import { type Db, openDatabase } from '../server/store/openDatabase.js'
import { COLLECTIONS } from '../shared/collections.js'
import { INBOX_NOTIFICATIONS, ITEMS, NOTES, fieldsOf, notesOf } from '../shared/docLayout.js'
import { createEvent } from './calendar.helpers.js'
import { expectOneLineError, killHard, runCli, spawnServer } from './helpers/child.js'
import { finished, uploadCsv } from './helpers/jobs.js'
import { freshDatabase, skipPg } from './helpers/pg.js'
import { type Api, apiOf, login, provider, startServer, synced, tempDir, until } from './helpers/server.js'

const dir = tempDir('accord-migrate-')
const file = join(dir, 'accord.db')
const cleanups: (() => Promise<void>)[] = []

/** What the SQLite server answered, to be answered the same from PostgreSQL. */
let served: Record<string, unknown>
/** A session of the SQLite server. */
let aliceSession: { token: string; userId: string }
let editedCustomer: string
let lastInvoiceNumber: number

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  rmSync(dir, { recursive: true, force: true })
})

/** Every answer a client could compare: each collection, each record (with its etag), a history, jobs, the session. */
async function answers(api: Api, customer: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const collection of COLLECTIONS) {
    const list = await api.request('GET', `/api/records/${collection}?limit=200`)
    expect(list.status).toBe(200)
    out[collection] = list.body
    for (const item of list.body.items as { id: string }[]) {
      const one = await api.request('GET', `/api/records/${collection}/${item.id}`)
      out[`${collection}/${item.id}`] = { body: one.body, etag: one.headers.get('etag') }
    }
  }
  out.history = (await api.request('GET', `/api/records/customers/${customer}/history`)).body
  out.exports = (await api.request('GET', '/api/exports')).body
  out.imports = (await api.request('GET', '/api/imports')).body
  out.session = (await api.request('GET', '/api/auth/session')).body
  return out
}

const number = async (api: Api, id: string) => (await api.request('GET', `/api/records/invoices/${id}`)).body.number as number | undefined

/** Sends a new invoice and waits for its number. */
async function sendInvoice(api: Api, customerId: string): Promise<number> {
  const draft = await api.request('POST', '/api/records/invoices', {
    customerId,
    items: [{ description: 'Work', quantity: 2, unitPrice: 150 }],
  })
  expect(draft.status).toBe(201)
  expect((await api.request('PATCH', `/api/records/invoices/${draft.body.id}`, { status: 'sent' })).status).toBe(200)
  let assigned: number | undefined
  await until(async () => (assigned = await number(api, draft.body.id)) !== undefined, 'the invoice is numbered')
  return assigned!
}

beforeAll(async () => {
  if (skipPg) return
  const t = await startServer({ db: file, jobs: { pollMs: 50 } })
  await seedDemo(t.server)
  const alice = await login(t.url, 'alice@demo.test', DEMO_PASSWORD)
  const bob = await login(t.url, 'bob@demo.test', DEMO_PASSWORD)
  const refused = await fetch(`${t.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'carol@demo.test', password: 'not her password' }),
  })
  expect(refused.status).toBe(401)
  const customers = (await alice.request('GET', '/api/records/customers')).body.items as { id: string; name: string }[]
  editedCustomer = customers.find((c) => c.name === 'Acme Corp')!.id

  // Bookings: one confirmed, one in conflict with it (same room).
  const start = Date.parse('2031-03-03T09:00:00Z')
  const confirmed = await createEvent(alice, { start, end: start + 3_600_000, attendees: [bob.userId], room: 'Atlas' }, 'Review')
  const waiting = await createEvent(bob, { start: start + 1_800_000, end: start + 5_400_000, room: 'atlas' }, 'Clash')
  const reservation = async (id: string) => (await alice.request('GET', `/api/records/events/${id}`)).body.reservation?.status
  await until(async () => (await reservation(confirmed)) === 'confirmed' && (await reservation(waiting)) === 'conflict', 'both decided')

  lastInvoiceNumber = await sendInvoice(alice, editedCustomer)

  const exported = await alice.request('POST', '/api/exports', { target: 'csv', collections: ['customers', 'deals'] })
  expect(exported.status).toBe(202)
  expect((await finished(alice, `/api/exports/${exported.body.id}`)).status).toBe('succeeded')
  const imported = await uploadCsv(t.url, alice, 'leads', 'name,email,company\nWayne,bruce@wayne.test,Wayne Enterprises\n')
  expect(imported.status).toBe(202)
  expect((await finished(alice, `/api/imports/${imported.body.id}`)).status).toBe('succeeded')
  await t.close()

  // The last edits go to the same file served by a process that is then killed, while the
  // document is loaded: their updates stay in the log, not compacted into a snapshot.
  const child = await spawnServer(file)
  try {
    aliceSession = { token: alice.token, userId: alice.userId }
    const [a2, b2] = [apiOf(child.url, alice.token, alice.userId), apiOf(child.url, bob.token, bob.userId)]
    const docName = `demo/customers/${editedCustomer}`
    const a = provider(child.wsUrl, docName, a2.token)
    const b = provider(child.wsUrl, docName, b2.token)
    await Promise.all([synced(a), synced(b)])
    fieldsOf(a.doc).set('phone', '+1 555 0199')
    notesOf(a.doc).insert(0, 'Called on Monday. ')
    fieldsOf(b.doc).set('tags', ['enterprise', 'priority'])
    await until(async () => {
      const body = (await a2.request('GET', `/api/records/customers/${editedCustomer}`)).body
      return body.phone === '+1 555 0199' && body.tags?.length === 2 && String(body.notes).startsWith('Called on Monday.')
    }, 'both edits stored')
    served = await answers(a2, editedCustomer)
    await killHard(child)
    a.destroy()
    b.destroy()
  } finally {
    await killHard(child)
  }
})

/** Rows of SQLite's shape, each as a JSON string with sorted keys, sorted: comparable whatever the order or type names. */
function canonical(rows: Record<string, unknown>[]): string[] {
  return rows
    .map((row) =>
      JSON.stringify(
        Object.keys(row)
          .sort()
          .map((key) => [key, row[key] instanceof Uint8Array ? Buffer.from(row[key] as Uint8Array).toString('hex') : row[key]]),
      ),
    )
    .sort()
}

const MS = (column: string) => `(extract(epoch FROM ${column}) * 1000)::bigint`

/** PostgreSQL tables that differ from SQLite's, read back into SQLite's columns. */
const AS_SQLITE: Record<string, string> = {
  reservations: `SELECT workspace, event_id, request, status, coalesce(${MS('start_at')}, 0) AS start_ms, coalesce(${MS('end_at')}, 0) AS end_ms,
    array_to_json(conflicts_with)::text AS conflicts_with, ${MS('decided_at')} AS decided_at FROM reservations`,
  reservation_slots: `SELECT workspace, resource, event_id, held::integer AS held, ${MS('lower(during)')} AS start_ms,
    ${MS('upper(during)')} AS end_ms FROM reservation_slots`,
}

function sqliteTables(db: Db): string[] {
  return (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]
  ).map((row) => row.name)
}

async function pgRows(pool: Pool, table: string, columns: string[]): Promise<Record<string, unknown>[]> {
  const jobsSql = (column: string) =>
    ['created_at', 'started_at', 'finished_at', 'lease_until'].includes(column)
      ? `${MS(column)} AS ${column}`
      : ['params', 'counts', 'errors', 'result'].includes(column)
        ? `${column}::text AS ${column}`
        : `"${column}"`
  const sql =
    AS_SQLITE[table] ??
    (table === 'jobs'
      ? `SELECT ${columns.map(jobsSql).join(', ')} FROM jobs`
      : `SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${table}"`)
  return (await pool.query(sql)).rows
}

/** A document's whole state as Yjs encodes it, and its roots as JSON (shared/docLayout.ts), to read a difference by. */
function docState(updates: Uint8Array[]): { state: string; json: Record<string, unknown> } {
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, update)
  const json: Record<string, unknown> = {}
  for (const name of [...doc.share.keys()].sort()) {
    const root =
      name === NOTES || name.startsWith('text.')
        ? doc.getText(name)
        : name === ITEMS || name === INBOX_NOTIFICATIONS
          ? doc.getArray(name)
          : doc.getMap(name)
    json[name] = root.toJSON()
  }
  return { state: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('hex'), json }
}

describe.skipIf(skipPg)('accord migrate-from-sqlite', () => {
  let url: string
  let pool: Pool

  it('[MS1] copies every table into a fresh database: the counts it prints, every row, every document state, ledger and jobs as SQLite has them', async () => {
    const database = await freshDatabase()
    cleanups.push(database.drop)
    url = database.url
    const result = runCli(['migrate-from-sqlite', '--db', file, '--database-url', url])
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    pool = await openPool(url, { max: 2 })
    cleanups.push(() => pool.end())

    const sqlite = openDatabase(file)
    try {
      const printed = Object.fromEntries([...result.stdout.matchAll(/^ {2}(\w+) +(\d+)$/gm)].map((m) => [m[1], Number(m[2])]))
      const tables = sqliteTables(sqlite)
      for (const table of tables) {
        // What PostgreSQL has no use for is not copied (a record row's log position).
        const ignored = new Set(COPIED_TABLES.find((t) => t.name === table)?.ignored)
        const columns = (sqlite.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name).filter((c) => !ignored.has(c))
        const want = (sqlite.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[]).map((row) =>
          Object.fromEntries(Object.entries(row).filter(([column]) => !ignored.has(column))),
        )
        expect(printed[table], table).toBe(want.length)
        expect(canonical(await pgRows(pool, table, columns)), table).toEqual(canonical(want))
      }
      for (const table of [
        'users',
        'sessions',
        'login_attempts',
        'history',
        'records',
        'doc_updates',
        'doc_snapshots',
        'reservations',
        'jobs',
        'import_keys',
      ])
        expect(printed[table], table).toBeGreaterThan(0)

      const docs = (sqlite.prepare('SELECT doc FROM doc_updates UNION SELECT doc FROM doc_snapshots').all() as { doc: string }[]).map(
        (r) => r.doc,
      )
      expect(docs.length).toBeGreaterThan(20)
      expect(printed.docs).toBe(docs.length)
      const fromSqlite = new SqliteDocStore(sqlite)
      const fromPg = new PgDocStore(pool)
      for (const doc of docs) {
        const [a, b] = [fromSqlite.load(doc), await fromPg.load(doc)]
        expect(docState(b.updates), doc).toEqual(docState(a.updates))
        expect([...b.clientAuthors].sort(), doc).toEqual([...a.clientAuthors].sort())
      }

      // A document's log and the identity columns continue past everything copied.
      const behind =
        await pool.query(`SELECT doc FROM docs d WHERE last_seq < coalesce((SELECT max(seq) FROM doc_updates u WHERE u.doc = d.doc), 0)
        OR last_seq < coalesce((SELECT upto FROM doc_snapshots s WHERE s.doc = d.doc), 0)`)
      expect(behind.rows).toEqual([])
      for (const table of ['history', 'jobs', 'pending_notices']) {
        const given = (sqlite.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as { seq: number } | undefined)?.seq ?? 0
        const { rows } = await pool.query(
          `SELECT coalesce((SELECT last_value FROM pg_sequences WHERE schemaname = 'public'
          AND format('%I.%I', schemaname, sequencename) = pg_get_serial_sequence($1, 'seq')), 0) AS last`,
          [table],
        )
        expect(Number(rows[0].last), table).toBe(given)
      }

      const [sqliteLedger, pgLedger] = [new SqliteReservationLedger(sqlite), new PgReservationLedger(pool)]
      expect(await pgLedger.entries('demo')).toEqual(await sqliteLedger.entries('demo'))
      const [sqliteJobs, pgJobs] = [new SqliteJobQueue(sqlite), new PgJobQueue(pool)]
      const jobIds = (sqlite.prepare('SELECT id FROM jobs').all() as { id: string }[]).map((r) => r.id)
      for (const id of jobIds) expect(await pgJobs.get(id)).toEqual(await sqliteJobs.get(id))
    } finally {
      sqlite.close()
    }
  })

  it('[MS2] served from PostgreSQL: the same answers to the same session, and numbers continue (history, invoices, jobs)', async () => {
    const server = await AccordServer.open({ databaseUrl: url, port: 0, clientDir: join(dir, 'no-client'), jobs: { pollMs: 50 } })
    const base = await server.start()
    try {
      // The session of the SQLite server is still signed in: sessions were copied.
      expect(await answers(apiOf(base, aliceSession.token, aliceSession.userId), editedCustomer)).toEqual(served)
      const alice = await login(base, 'alice@demo.test', DEMO_PASSWORD)

      const maxHistory = Number((await pool.query('SELECT max(seq) AS n FROM history')).rows[0].n)
      const p = provider(base.replace(/^http/, 'ws'), `demo/customers/${editedCustomer}`, alice.token)
      await synced(p)
      fieldsOf(p.doc).set('phone', '+1 555 0200')
      await until(
        async () => (await alice.request('GET', `/api/records/customers/${editedCustomer}`)).body.phone === '+1 555 0200',
        'the edit stored',
      )
      p.destroy()
      // A new document's first entry is numbered after every copied one (the edit above may
      // only extend the copied last entry: same author, moments later).
      const created = await alice.request('POST', '/api/records/customers', { name: 'After the move' })
      expect(created.status).toBe(201)
      const history = await pool.query('SELECT seq FROM history WHERE doc = $1 ORDER BY seq DESC LIMIT 1', [
        `demo/customers/${created.body.id}`,
      ])
      expect(Number(history.rows[0].seq)).toBeGreaterThan(maxHistory)
      expect(await sendInvoice(alice, editedCustomer)).toBe(lastInvoiceNumber + 1)
      const exported = await alice.request('POST', '/api/exports', { target: 'csv', collections: ['leads'] })
      expect((await finished(alice, `/api/exports/${exported.body.id}`)).status).toBe('succeeded')
      expect((await alice.request('GET', '/api/exports')).body.items).toHaveLength(2)
    } finally {
      await server.close()
    }
  })

  it('[MS3] refuses, in one line: a database that is not empty, no URL, a SQLite file a server has open', async () => {
    expectOneLineError(
      runCli(['migrate-from-sqlite', '--db', file, '--database-url', url]),
      /the PostgreSQL database is not empty \(.*\); migrate-from-sqlite copies into an empty database only/,
    )
    expectOneLineError(
      runCli(['migrate-from-sqlite', '--db', file], { ACCORD_DATABASE_URL: '' }),
      /needs --database-url or ACCORD_DATABASE_URL/,
    )
    expectOneLineError(runCli(['migrate-from-sqlite', '--db', join(dir, 'none.db'), '--database-url', url]), /no database at .*none\.db/)
    const server = await spawnServer(file)
    try {
      const empty = await freshDatabase()
      cleanups.push(empty.drop)
      expectOneLineError(
        runCli(['migrate-from-sqlite', '--db', file, '--database-url', empty.url]),
        /accord\.db is open in another process .*stop it first/,
      )
    } finally {
      await killHard(server)
    }
  })
})
