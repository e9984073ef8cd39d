/**
 * [C15] A booking whose decision failed because the database could not be reached (PostgreSQL
 * restarting) is decided once it answers again, without waiting for a restart of Accord;
 * [N7] likewise an invoice's number. The ledger and the counters are the real ones; their
 * first calls fail the way node-postgres reports a connection that went away, which no test
 * can time against a real outage (the commit just before would fail too).
 */
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { AccordServer } from '../server/AccordServer.js'
import type { InvoiceNumbers } from '../server/authority/InvoiceNumbers.js'
import type { ReservationLedger } from '../server/authority/ReservationLedger.js'
import { openSqliteBackend } from '../server/backend.js'
import { BASE, MIN, createEvent } from './calendar.helpers.js'
import { login, seedWorkspace, tempDir, until } from './helpers/server.js'

const dir = tempDir()
const file = join(dir, 'accord.db')
const backend = openSqliteBackend({ file })
const gone = () => Promise.reject(new Error('Connection terminated unexpectedly'))
let failures = 2
const ledger: ReservationLedger = {
  decide: (request) => (failures-- > 0 ? Promise.reject(new Error('Connection terminated unexpectedly')) : backend.ledger.decide(request)),
  entry: (workspace, eventId) => backend.ledger.entry(workspace, eventId),
  entries: (workspace) => backend.ledger.entries(workspace),
  busy: (workspace, resources, window, exclude) => backend.ledger.busy(workspace, resources, window, exclude),
}
let numberFailures = 2
const invoiceNumbers: InvoiceNumbers = {
  assign: (workspace, invoiceId) => (numberFailures-- > 0 ? gone() : backend.invoiceNumbers.assign(workspace, invoiceId)),
  numberOf: (workspace, invoiceId) => backend.invoiceNumbers.numberOf(workspace, invoiceId),
  all: () => backend.invoiceNumbers.all(),
}
const server = new AccordServer({ db: file, port: 0, clientDir: join(dir, 'no-client') }, { ...backend, ledger, invoiceNumbers })
let url: string
let users: Awaited<ReturnType<typeof seedWorkspace>>
beforeAll(async () => {
  url = await server.start()
  users = await seedWorkspace(server)
})
afterAll(() => server.close())

it('[C15] a decision that failed for want of the database is made again once it answers', async () => {
  const owner = await login(url, users.owner.email, users.owner.password)
  const id = await createEvent(owner, { start: BASE, end: BASE + 30 * MIN, attendees: [users.member.id] })
  const status = async () => (await owner.request('GET', `/api/records/events/${id}`)).body.reservation?.status
  await until(async () => (await status()) === 'confirmed', 'the event is confirmed after the failed decisions')
  expect(failures).toBe(-1)
  expect(await backend.ledger.entry('acme', id)).toMatchObject({ reservation: { status: 'confirmed' } })
})

it('[N7] an invoice number that failed for want of the database is given once it answers', async () => {
  const owner = await login(url, users.owner.email, users.owner.password)
  const created = await owner.request('POST', '/api/records/invoices', { status: 'draft' })
  expect(created.status).toBe(201)
  const id = created.body.id as string
  expect((await owner.request('PATCH', `/api/records/invoices/${id}`, { status: 'sent' })).status).toBe(200)
  const number = async () => (await owner.request('GET', `/api/records/invoices/${id}`)).body.number
  await until(async () => (await number()) === 1, 'the invoice is numbered after the failed tries')
  expect(numberFailures).toBe(-1)
})
