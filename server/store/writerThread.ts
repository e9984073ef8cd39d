/**
 * The writer thread of ThreadedDocStore: its own connection to the database, on which
 * every append (compactions ride along with them) runs, one at a time, in the order the
 * batches were sent. The event loop of the server never waits for a commit (or its fsync).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { openDatabase } from './openDatabase.js'
import { SqliteDocStore } from './SqliteDocStore.js'
import type { WriterData, WriterReply, WriterRequest } from './ThreadedDocStore.js'

const { file, synchronous } = workerData as WriterData
const db = openDatabase(file, { synchronous })
const store = new SqliteDocStore(db)
parentPort!.postMessage({ id: 0 } satisfies WriterReply)

parentPort!.on('message', (request: WriterRequest) => {
  if (request.op === 'close') {
    db.close()
    parentPort!.postMessage({ id: request.id } satisfies WriterReply)
    parentPort!.close()
    return
  }
  let reply: WriterReply
  const startedAt = performance.now()
  try {
    store.append(request.entries)
    reply = { id: request.id, ms: performance.now() - startedAt }
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) }
  }
  parentPort!.postMessage(reply)
})
