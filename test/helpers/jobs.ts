/** Helpers for the export/import job tests: waiting for a job, uploading a CSV, seeding many records. */
import * as Y from 'yjs'
import { projectRecord } from '../../server/records/recordProjection.js'
import type { Collection } from '../../shared/collections.js'
import { fieldsOf } from '../../shared/docLayout.js'
import { newRecordId, recordDocName } from '../../shared/docNames.js'
import type { AccordServer } from '../../server/AccordServer.js'
import type { NewJob } from '../../server/jobs/JobQueue.js'
import type { SheetsOptions } from '../../server/jobs/JobService.js'
import type { PersistEntry } from '../../server/store/DocStore.js'
import type { SheetsEmulator } from '../sheets-emulator/SheetsEmulator.js'
import { type Api, type TestServer, type TestServerOptions, startServer, until } from './server.js'

export const FINISHED = new Set(['succeeded', 'failed'])

/** A CSV (or other `target`) export of deals by `userId`, for the queue tests. */
export const newExportJob = (userId: string, target = 'csv', coalesceKey: string | null = null): NewJob => ({
  workspace: 'w',
  userId,
  kind: 'export',
  target,
  params: { collections: ['deals'] },
  counts: { exported: 0 },
  coalesceKey,
})

/** Polls `GET path` until the job is finished; returns it. */
export async function finished(api: Api, path: string, timeoutMs = 30_000): Promise<any> {
  let job: any
  await until(
    async () => {
      job = (await api.request('GET', path)).body
      return FINISHED.has(job?.status)
    },
    `job ${path} to finish`,
    timeoutMs,
  )
  return job
}

/** `POST /api/imports` with a multipart body, as a browser form would send it. */
export async function uploadCsv(
  url: string,
  api: Api,
  collection: string,
  csv: string,
  onDuplicate?: 'skip' | 'merge',
  columns?: string[],
) {
  const form = new FormData()
  form.set('collection', collection)
  if (onDuplicate) form.set('onDuplicate', onDuplicate)
  if (columns) form.set('columns', JSON.stringify(columns))
  form.set('file', new Blob([csv], { type: 'text/csv' }), 'import.csv')
  const res = await fetch(`${url}/api/imports`, { method: 'POST', headers: { authorization: `Bearer ${api.token}` }, body: form })
  return { status: res.status, body: (await res.json()) as any }
}

/**
 * Writes `count` records straight through the server's document store (update log and
 * projection in one transaction, on either backend), for tests that need thousands of records
 * quickly. The records are real documents: they load, sync and export like any other.
 */
export async function seedRecords(
  server: AccordServer,
  workspace: string,
  collection: Collection,
  count: number,
  fields: (i: number) => Record<string, unknown>,
): Promise<string[]> {
  const ids: string[] = []
  const entries: PersistEntry[] = []
  const now = Date.now()
  for (let i = 0; i < count; i++) {
    const id = newRecordId(now + i)
    ids.push(id)
    const doc = new Y.Doc()
    const values = fields(i)
    doc.transact(() => {
      for (const [key, value] of Object.entries(values)) fieldsOf(doc).set(key, value)
    })
    entries.push({
      docName: recordDocName(workspace, collection, id),
      updates: [{ update: Y.encodeStateAsUpdate(doc), author: null, changed: Object.keys(values), at: now }],
      projection: projectRecord({ workspace, collection, id }, doc, [{ author: null, at: now }])?.row,
    })
  }
  for (let i = 0; i < entries.length; i += 1000) await server.backend.docStore.append(entries.slice(i, i + 1000))
  return ids
}

/**
 * Starts `emulator`, then the real server (with `options`) with Google Sheets exports going
 * to it (no quota to wait for, short backoff).
 */
export async function startServerWithSheets(
  emulator: SheetsEmulator,
  sheets: SheetsOptions = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  await emulator.start()
  return startServer({
    ...options,
    jobs: {
      pollMs: 100,
      ...options.jobs,
      sheets: {
        credentials: emulator.serviceAccount(),
        apiRoot: emulator.apiRoot,
        writesPerMinute: 60_000,
        retry: { baseDelayMs: 5 },
        ...sheets,
      },
    },
  })
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
export { until }
