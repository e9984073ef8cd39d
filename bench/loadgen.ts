/**
 * The load generator, run in its own process(es): `node --import tsx bench/loadgen.ts '<json>'`.
 * Prints `READY` once its sockets are synced (idle role) and one JSON result line at the end.
 */
import { type BenchClient, type Target, now, openClient, percentile, stampsIn } from './client.js'

export type Job =
  | { role: 'fanout'; target: Target; tokens: string[]; docName: string; readers: number; updates: number; rateHz: number }
  | {
      role: 'rooms'
      target: Target
      tokens: string[]
      docNames: string[]
      editors: number
      steps: { perEditorHz: number; startAt: number; durationMs: number }[]
    }
  | { role: 'idle'; target: Target; tokens: string[]; docNames: string[]; socketsPerDoc: number }
  | { role: 'write'; target: Target; tokens: string[]; docName: string; updates: number; connections: number; perConnectionHz: number }
  | { role: 'read'; target: Target; docName: string; expectLength?: number }
  | { role: 'durability'; target: Target; tokens: string[]; docName: string; rateHz: number; killAfterMs: number; serverPid: number }

const CONNECT_BATCH = 200

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Opens clients in batches (a burst of thousands of handshakes only measures the accept queue). */
async function openMany(target: Target, tokens: string[], names: string[]): Promise<BenchClient[]> {
  const clients: BenchClient[] = []
  for (let i = 0; i < names.length; i += CONNECT_BATCH) {
    const batch = names
      .slice(i, i + CONNECT_BATCH)
      .map((name, j) => openClient({ ...target, token: tokens[(i + j) % tokens.length]! }, name))
    await Promise.all(batch.map((c) => c.synced))
    clients.push(...batch)
  }
  return clients
}

async function fanout(job: Extract<Job, { role: 'fanout' }>) {
  const readers = await openMany(job.target, job.tokens, Array(job.readers).fill(job.docName))
  const [writer] = await openMany(job.target, job.tokens.slice(1).concat(job.tokens), [job.docName])
  const lastArrival = new Map<number, number>()
  const firstArrival = new Map<number, number>()
  const arrivals = new Map<number, number>()
  const perDelivery: number[] = []
  for (const r of readers) {
    r.onRemoteInsert((inserted, at) => {
      for (const sent of stampsIn(inserted)) {
        perDelivery.push(at - sent)
        lastArrival.set(sent, at)
        if (!firstArrival.has(sent)) firstArrival.set(sent, at)
        arrivals.set(sent, (arrivals.get(sent) ?? 0) + 1)
      }
    })
  }
  for (let i = 0; i < job.updates; i++) {
    writer!.insert(`|${now()}`)
    await sleep(1000 / job.rateHz)
  }
  const deadline = Date.now() + 10_000
  while ([...arrivals.values()].filter((n) => n === job.readers).length < job.updates && Date.now() < deadline) await sleep(20)
  const toAll = [...lastArrival.entries()].filter(([sent]) => arrivals.get(sent) === job.readers).map(([sent, at]) => at - sent)
  for (const c of [...readers, writer!]) c.close()
  return {
    updates: job.updates,
    completeToAll: toAll.length,
    toAllP50: percentile(toAll, 50),
    toAllP99: percentile(toAll, 99),
    deliveryP50: percentile(perDelivery, 50),
    deliveryP99: percentile(perDelivery, 99),
    toFirstP50: percentile(
      [...firstArrival.entries()].map(([sent, at]) => at - sent),
      50,
    ),
  }
}

async function rooms(job: Extract<Job, { role: 'rooms' }>) {
  const names = job.docNames.flatMap((name) => Array(job.editors).fill(name) as string[])
  const clients = await openMany(job.target, job.tokens, names)
  let step = -1
  const samples: number[][] = job.steps.map(() => [])
  const sent = job.steps.map(() => 0)
  for (const c of clients) {
    c.onRemoteInsert((inserted, at) => {
      if (step < 0) return
      for (const s of stampsIn(inserted)) samples[step]!.push(at - s)
    })
  }
  for (const [i, s] of job.steps.entries()) {
    await sleep(Math.max(0, s.startAt - Date.now()))
    step = i
    const end = s.startAt + s.durationMs
    const intervalMs = 1000 / s.perEditorHz
    // Every editor on its own steady clock, phases spread so the load is even.
    await Promise.all(
      clients.map(async (c, k) => {
        let next = s.startAt + (k / clients.length) * intervalMs
        while (next < end) {
          await sleep(Math.max(0, next - Date.now()))
          if (c.isOpen()) {
            c.insert(`|${now()}`)
            sent[i]!++
          }
          next += intervalMs
        }
      }),
    )
    await sleep(500)
  }
  for (const c of clients) c.close()
  return {
    steps: job.steps.map((s, i) => ({
      perEditorHz: s.perEditorHz,
      sent: sent[i],
      expected: sent[i]! * (job.editors - 1),
      received: samples[i]!.length,
      p50: percentile(samples[i]!, 50),
      p99: percentile(samples[i]!, 99),
    })),
  }
}

async function idle(job: Extract<Job, { role: 'idle' }>) {
  const names = job.docNames.flatMap((name) => Array(job.socketsPerDoc).fill(name) as string[])
  const clients = await openMany(job.target, job.tokens, names)
  console.log('READY')
  await new Promise<void>((resolve) => process.stdin.once('close', () => resolve()).resume())
  for (const c of clients) c.close()
  return { sockets: clients.length }
}

async function write(job: Extract<Job, { role: 'write' }>) {
  const clients = await openMany(job.target, job.tokens, Array(job.connections).fill(job.docName))
  const per = Math.ceil(job.updates / job.connections)
  let written = 0
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < per && written < job.updates; i++) {
        written++
        c.insert(`u${written};`)
        await sleep(1000 / job.perConnectionHz)
      }
    }),
  )
  await sleep(500)
  for (const c of clients) c.close()
  return { written }
}

/**
 * Loads a document from a fresh connection. Some servers answer the first sync before
 * their persistence has loaded the document (y-websocket binds LevelDB asynchronously),
 * so "loaded" means: the expected length arrived, or nothing changed for SETTLE_MS.
 */
async function read(job: Extract<Job, { role: 'read' }>) {
  const SETTLE_MS = 1500
  const TIMEOUT_MS = 30_000
  const startedAt = now()
  const client = openClient(job.target, job.docName)
  const syncedAt = await client.synced
  let changedAt = now()
  client.doc.on('update', () => (changedAt = now()))
  const complete = () => (job.expectLength === undefined ? now() - changedAt > SETTLE_MS : client.text.length >= job.expectLength)
  while (!complete() && now() - startedAt < TIMEOUT_MS) await sleep(job.expectLength === undefined ? 50 : 1)
  const loadedAt = job.expectLength === undefined ? changedAt : now()
  const text = client.text.toString()
  client.close()
  return { firstSyncMs: syncedAt - startedAt, loadedMs: loadedAt - startedAt, length: text.length, stamps: stampsIn(text) }
}

async function durability(job: Extract<Job, { role: 'durability' }>) {
  const [writer, observer] = await openMany(job.target, job.tokens, [job.docName, job.docName])
  const seen = new Set<number>()
  observer!.onRemoteInsert((inserted) => {
    for (const s of stampsIn(inserted)) seen.add(s)
  })
  const startedAt = Date.now()
  let written = 0
  while (Date.now() - startedAt < job.killAfterMs) {
    writer!.insert(`|${now()}`)
    written++
    await sleep(1000 / job.rateHz)
  }
  const broadcast = [...seen]
  process.kill(job.serverPid, 'SIGKILL')
  writer!.close()
  observer!.close()
  return { written, broadcast }
}

const job = JSON.parse(process.argv[2]!) as Job
const handlers = { fanout, rooms, idle, write, read, durability } as const
const result = await (handlers[job.role] as (j: Job) => Promise<unknown>)(job)
console.log(JSON.stringify(result))
process.exit(0)
