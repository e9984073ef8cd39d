/**
 * Compare-and-set over REST: `If-Match` on PATCH and DELETE, the 412 that carries the record
 * as it is now (so a script retries without another round trip), and the record's `version`.
 */
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeBackends, restartSeeded } from './helpers/backends.js'
import { fieldsOf } from '../shared/docLayout.js'
import { StaleRecordError } from '../server/records/StaleRecordError.js'
import { serverOrigin } from '../server/sync/types.js'
import { type Api, type SeededUsers, type TestServer, provider, startSeeded, synced, until } from './helpers/server.js'

describeBackends('records compare-and-set', (backend) => {
  let t: TestServer
  let users: SeededUsers
  let owner: Api

  beforeAll(async () => {
    ;({
      t,
      users,
      api: { owner },
    } = await startSeeded(['owner'], backend.options()))
  })
  afterAll(() => t.close())

  async function createDeal(api: Api, title: string): Promise<{ id: string; etag: string }> {
    const res = await api.request('POST', '/api/records/deals', { title })
    expect(res.status).toBe(201)
    return { id: res.body.id as string, etag: res.headers.get('etag')! }
  }

  const versionOf = async (api: Api, id: string): Promise<number> => (await api.request('GET', `/api/records/deals/${id}`)).body.version

  describe('REST compare-and-set', () => {
    it('[CAS1] DELETE with a stale If-Match answers 412 with the current ETag and record and deletes nothing; with the current ETag, or *, it deletes', async () => {
      const { id, etag: first } = await createDeal(owner, 'Delete me carefully')
      const patched = await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 7 })
      const current = patched.headers.get('etag')!

      const stale = await owner.request('DELETE', `/api/records/deals/${id}`, undefined, { 'if-match': first })
      expect(stale.status).toBe(412)
      expect(stale.headers.get('etag')).toBe(current)
      expect(stale.body.error).toMatchObject({ code: 'precondition-failed', record: { id, title: 'Delete me carefully', amount: 7 } })
      const still = await owner.request('GET', `/api/records/deals/${id}`)
      expect(still.status).toBe(200)
      expect(still.headers.get('etag')).toBe(current)
      expect(stale.body.error.record).toEqual(still.body)

      expect(
        (await owner.request('DELETE', `/api/records/deals/${id}`, undefined, { 'if-match': stale.headers.get('etag')! })).status,
      ).toBe(204)
      expect((await owner.request('GET', `/api/records/deals/${id}`)).status).toBe(404)

      const other = await createDeal(owner, 'Delete me anyway')
      expect((await owner.request('DELETE', `/api/records/deals/${other.id}`, undefined, { 'if-match': '*' })).status).toBe(204)
    })

    it('[CAS2] a PATCH 412 carries the current record and an ETag that a retry with it succeeds with', async () => {
      const { id, etag: before } = await createDeal(owner, 'Raced')
      const editor = provider(t.wsUrl, `acme/deals/${id}`, owner.token)
      await synced(editor)
      fieldsOf(editor.doc).set('stage', 'won')
      await until(async () => (await owner.request('GET', `/api/records/deals/${id}`)).body.stage === 'won', 'the edit is saved')
      editor.destroy()

      const stale = await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 2 }, { 'if-match': before })
      expect(stale.status).toBe(412)
      expect(stale.body.error).toMatchObject({ code: 'precondition-failed', record: { id, stage: 'won', version: 2 } })
      expect(stale.body.error.record).not.toHaveProperty('amount', 2)
      const retry = await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 2 }, { 'if-match': stale.headers.get('etag')! })
      expect(retry.status).toBe(200)
      expect(retry.body).toMatchObject({ stage: 'won', amount: 2, version: 3 })
    })

    it('[CAS3] the ETag of a 412 names the live state even when the change it lost to was not on disk yet', async () => {
      const { id, etag: before } = await createDeal(owner, 'Unsaved rival')
      const name = `acme/deals/${id}`
      // A server transaction and the check in the same event-loop turn: the rival change is
      // applied to the live document but not yet written, so the stored row is older than it.
      let stale: unknown
      await t.server.registry.use(name, async (room) => {
        room.doc.transact(() => fieldsOf(room.doc).set('stage', 'qualified'), serverOrigin('api', owner.userId))
        expect(room.unpersisted).toBeGreaterThan(0)
        stale = await t.server.records.patch('acme', 'deals', id, { amount: 3 }, owner.userId, before).catch((error: unknown) => error)
      })
      expect(stale).toBeInstanceOf(StaleRecordError)
      const { record, etag } = (stale as StaleRecordError).current
      expect(record).toMatchObject({ stage: 'qualified', version: 2 })
      const retry = await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 3 }, { 'if-match': `"${etag}"` })
      expect(retry.status).toBe(200)
      expect(retry.body).toMatchObject({ stage: 'qualified', amount: 3 })
    })
  })

  describe('record version', () => {
    it('[CAS4] version counts accepted changes: +1 per REST patch and per provider edit, a gate revert is one more, a patch that changes nothing none; every answer carries it', async () => {
      const created = await owner.request('POST', '/api/records/deals', { title: 'Counted' })
      const id = created.body.id as string
      expect(created.body.version).toBe(1)
      const patched = await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 10 })
      expect(patched.body.version).toBe(2)
      expect((await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 10 })).body.version).toBe(2)

      const editor = provider(t.wsUrl, `acme/deals/${id}`, owner.token)
      await synced(editor)
      fieldsOf(editor.doc).set('stage', 'proposal')
      await until(async () => (await versionOf(owner, id)) === 3, 'the provider edit counts once')
      // One client transaction, half of it invalid: the update and the server's revert are two
      // committed changes (the ETag moves with each).
      editor.doc.transact(() => {
        fieldsOf(editor.doc).set('stage', 'negotiation')
        fieldsOf(editor.doc).set('amount', -5)
      })
      await until(async () => (await versionOf(owner, id)) === 5, 'the update and its revert count one each')
      await until(() => fieldsOf(editor.doc).get('amount') === 10, 'the editor sees the revert')
      editor.destroy()

      const got = await owner.request('GET', `/api/records/deals/${id}`)
      expect(got.body).toMatchObject({ stage: 'negotiation', amount: 10, version: 5 })
      const listed = (await owner.request('GET', '/api/records/deals?limit=500')).body.items.find((r: { id: string }) => r.id === id)
      expect(listed.version).toBe(5)
    })

    it('[CAS5] version never goes back and survives a restart, then keeps counting from there', async () => {
      const { id } = await createDeal(owner, 'Durable count')
      const seen = [await versionOf(owner, id)]
      for (const amount of [1, 2, 3]) {
        seen.push((await owner.request('PATCH', `/api/records/deals/${id}`, { amount })).body.version)
      }
      expect(seen).toEqual([1, 2, 3, 4])

      ;({
        t,
        users,
        api: { owner },
      } = await restartSeeded(t, users, ['owner']))
      expect(await versionOf(owner, id)).toBe(4)
      expect((await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 4 })).body.version).toBe(5)
    })

    // An upgrade from an older SQLite schema.
    it.skipIf(backend.name !== 'SQLite')(
      '[CAS6] records stored before versions get the count still known at the upgrade: their history entries, or their logged updates',
      async () => {
        const { id } = await createDeal(owner, 'Stored before versions')
        await owner.request('PATCH', `/api/records/deals/${id}`, { stage: 'won' })
        await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 9 })
        // Back to the schema before versions (the last migration) undone; the log was compacted at shutdown.
        const downgrade = () => {
          const db = new Database(t.dbFile)
          const version = db.pragma('user_version', { simple: true }) as number
          // Back to before the version column: the nine migrations since undone (the log positions', the search texts', the saved views', the invites', the sheet targets', deactivation's, the job retries', the overwrites', then the version's).
          db.exec(
            'ALTER TABLE records DROP COLUMN log_seq; ALTER TABLE records DROP COLUMN search_text; DROP TABLE saved_views; DROP TABLE invites; DROP TABLE sheet_targets; ALTER TABLE users DROP COLUMN deactivated_at; ALTER TABLE jobs DROP COLUMN retry; DROP TABLE doc_clients; ALTER TABLE history DROP COLUMN overwritten; DROP TABLE pending_notices; ' +
              'ALTER TABLE records DROP COLUMN version',
          )
          db.pragma(`user_version = ${version - 9}`)
          db.close()
        }
        ;({
          t,
          users,
          api: { owner },
        } = await restartSeeded(t, users, ['owner'], { whileStopped: downgrade }))
        expect(await versionOf(owner, id)).toBe(3)
        expect((await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 10 })).body.version).toBe(4)
      },
    )
  })
})
