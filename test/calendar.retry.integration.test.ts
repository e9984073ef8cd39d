/**
 * [C15] A booking whose decision failed because the database could not be reached (PostgreSQL
 * restarting) is decided once it answers again, without waiting for a restart of Accord. The
 * ledger is the real one; its first decisions fail the way node-postgres reports a connection
 * that went away, which no test can time against a real outage (the commit before the
 * decision would fail too).
 */
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { AccordServer } from '../server/AccordServer.js'
import type { ReservationLedger } from '../server/authority/ReservationLedger.js'
import { openSqliteBackend } from '../server/backend.js'
import { BASE, MIN, createEvent } from './calendar.helpers.js'
import { login, seedWorkspace, tempDir, until } from './helpers/server.js'

const dir = tempDir()
const file = join(dir, 'accord.db')
const backend = openSqliteBackend({ file })
let failures = 2
const ledger: ReservationLedger = {
  decide: (request) => (failures-- > 0 ? Promise.reject(new Error('Connection terminated unexpectedly')) : backend.ledger.decide(request)),
  entry: (workspace, eventId) => backend.ledger.entry(workspace, eventId),
  entries: (workspace) => backend.ledger.entries(workspace),
  busy: (workspace, resources, window, exclude) => backend.ledger.busy(workspace, resources, window, exclude),
}
const server = new AccordServer({ db: file, port: 0, clientDir: join(dir, 'no-client') }, { ...backend, ledger })
afterAll(() => server.close())

it('[C15] a decision that failed for want of the database is made again once it answers', async () => {
  const url = await server.start()
  const users = await seedWorkspace(server)
  const owner = await login(url, users.owner.email, users.owner.password)
  const id = await createEvent(owner, { start: BASE, end: BASE + 30 * MIN, attendees: [users.member.id] })
  const status = async () => (await owner.request('GET', `/api/records/events/${id}`)).body.reservation?.status
  await until(async () => (await status()) === 'confirmed', 'the event is confirmed after the failed decisions')
  expect(failures).toBe(-1)
  expect(await backend.ledger.entry('acme', id)).toMatchObject({ reservation: { status: 'confirmed' } })
})
