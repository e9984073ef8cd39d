/**
 * Durability: the server process is killed (SIGKILL) while a Sheets export runs; after a
 * restart on the same database the job runs again and completes exactly once, and the
 * spreadsheet equals the records. On SQLite and on PostgreSQL.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { AccordServer } from '../server/AccordServer.js'
import { headerOf } from '../server/jobs/connectors/table.js'
import { INBOX_NOTIFICATIONS } from '../shared/docLayout.js'
import { describeBackends } from './helpers/backends.js'
import { type ChildServer, killHard, spawnServer } from './helpers/child.js'
import { finished, seedRecords } from './helpers/jobs.js'
import { freshDatabase } from './helpers/pg.js'
import { login, provider, seedWorkspace, synced, tempDir, until } from './helpers/server.js'
import { SheetsEmulator } from './sheets-emulator/SheetsEmulator.js'

const CUSTOMERS = 200
const DEALS = 50

/** A job's status and attempts, read from the database itself. */
async function storedJob(where: string, id: string): Promise<{ status: string; attempts: number }> {
  if (!where.startsWith('postgres')) {
    const peek = new Database(where, { readonly: true })
    try {
      return peek.prepare('SELECT status, attempts FROM jobs WHERE id = ?').get(id) as { status: string; attempts: number }
    } finally {
      peek.close()
    }
  }
  const client = new pg.Client({ connectionString: where })
  await client.connect()
  try {
    return (await client.query('SELECT status, attempts FROM jobs WHERE id = $1', [id])).rows[0]
  } finally {
    await client.end()
  }
}

describeBackends('job durability', (backend) => {
  let emulator: SheetsEmulator
  /** The SQLite file, or the PostgreSQL URL. */
  let where: string
  let drop: (() => Promise<void>) | undefined
  let env: Record<string, string>
  let credentials: { email: string; password: string }
  const children: ChildServer[] = []

  beforeAll(async () => {
    emulator = new SheetsEmulator()
    await emulator.start()
    const dir = tempDir('accord-jobs-restart-')
    if (backend.kind === 'postgres') {
      const database = await freshDatabase()
      ;({ url: where, drop } = database)
    } else where = join(dir, 'accord.db')
    const keyFile = join(dir, 'service-account.json')
    writeFileSync(keyFile, JSON.stringify(emulator.serviceAccount()))
    env = {
      ACCORD_SHEETS_CREDENTIALS: keyFile,
      ACCORD_SHEETS_API_ROOT: emulator.apiRoot,
      ACCORD_SHEETS_WRITES_PER_MINUTE: '600000',
      ACCORD_JOB_LEASE_MS: '1000',
      ACCORD_EXPORT_DIR: join(dir, 'exports'),
      LOG_LEVEL: 'warn',
    }
    const server = await AccordServer.open(backend.kind === 'postgres' ? { databaseUrl: where } : { db: where })
    const users = await seedWorkspace(server)
    await seedRecords(server, 'acme', 'customers', CUSTOMERS, (i) => ({ name: `Customer ${i}`, email: `c${i}@example.test` }))
    await seedRecords(server, 'acme', 'deals', DEALS, (i) => ({ title: `Deal ${i}`, amount: i, stage: 'lead', currency: 'EUR' }))
    await server.registry.close()
    await server.backend.close()
    credentials = users.member
  })
  afterAll(async () => {
    for (const child of children) await killHard(child)
    await emulator.close()
    await drop?.()
  })

  async function start(): Promise<ChildServer> {
    const child = await spawnServer(where, 0, env)
    children.push(child)
    return child
  }

  it('[JD1] a job running when the process is killed completes after restart, exactly once', async () => {
    emulator.createSpreadsheet('restart')
    const first = await start()
    const api = await login(first.url, credentials.email, credentials.password)
    // Freeze the export right after its first write: the process dies with the job half done.
    emulator.holdAfter((r) => r.path === '/v4/spreadsheets/restart/values:batchUpdate' && r.status === 200)
    const res = await api.request('POST', '/api/exports', {
      target: 'sheets',
      spreadsheetId: 'restart',
      collections: ['customers', 'deals'],
    })
    expect(res.status).toBe(202)
    const id = res.body.id as string
    await until(() => emulator.held > 0, 'the export is half done', 30_000)
    await killHard(first)
    emulator.resume()
    expect(emulator.values('restart', 'customers (member of acme)').length).toBe(CUSTOMERS + 1)
    expect(emulator.values('restart', 'deals (member of acme)')).toEqual([])
    expect(await storedJob(where, id)).toEqual({ status: 'running', attempts: 1 })

    const second = await start()
    const again = await login(second.url, credentials.email, credentials.password)
    const job = await finished(again, `/api/exports/${id}`, 30_000)
    expect(job).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      counts: { exported: CUSTOMERS + DEALS, added: CUSTOMERS + DEALS, updated: 0, deleted: 0 },
    })
    expect((await again.request('GET', '/api/exports')).body.items.map((j: any) => j.id)).toEqual([id])

    const customers = emulator.values('restart', 'customers (member of acme)')
    expect(customers.length).toBe(CUSTOMERS + 1)
    expect(customers[0]).toEqual(headerOf('customers'))
    expect(new Set(customers.slice(1).map((r) => r[0])).size).toBe(CUSTOMERS)
    expect(emulator.values('restart', 'deals (member of acme)').length).toBe(DEALS + 1)

    const inbox = provider(second.wsUrl, `acme/inbox/${again.userId}`, again.token)
    await synced(inbox)
    const notes = inbox.doc
      .getArray<any>(INBOX_NOTIFICATIONS)
      .toArray()
      .filter((n) => n.jobId === id)
    expect(notes.map((n) => n.status)).toEqual(['succeeded'])
    inbox.destroy()
    await killHard(second)
  })
})
