/**
 * The load generator, run in its own process(es): `node --import tsx bench/loadgen.ts '<json>'`.
 * Prints `READY` once its sockets are synced (idle role) and one JSON result line at the end.
 */
import { type BenchClient, type Target, now, openClient, percentile, stampsIn } from './client.js'

/**
 * `wsUrls` (a cluster's members): socket k connects to `wsUrls[k % n]` instead of the target's
 * URL; `writerWsUrl`: the fan-out's writer connects there.
 */
export type Job =
  | {
      role: 'fanout'
      target: Target
      tokens: string[]
      docName: string
      readers: number
      updates: number
      rateHz: number
      wsUrls?: string[]
      writerWsUrl?: string
    }
  | {
      role: 'rooms'
      target: Target
      tokens: string[]
      docNames: string[]
      editors: number
      steps: { perEditorHz: number; startAt: number; durationMs: number }[]
      wsUrls?: string[]
    }
  | { role: 'idle'; target: Target; tokens: string[]; docNames: string[]; socketsPerDoc: number }
  | { role: 'write'; target: Target; tokens: string[]; docName: string; updates: number; connections: number; perConnectionHz: number }
  | { role: 'read'; target: Target; docName: string; expectLength?: number }
  | { role: 'durability'; target: Target; tokens: string[]; docName: string; rateHz: number; killAfterMs: number; serverPid: number }
  | { role: 'failover'; target: Target; tokens: string[]; docName: string; rateHz: number; killAfterMs: number; ownerPid: number }

const CONNECT_BATCH = 200

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * A client once synced. A socket closed before (a cluster member closes one with 1011 when a
 * claim fails under load: a real client reconnects) is opened again, a few times at most.
 */
async function openSynced(target: Target, name: string): Promise<BenchClient> {
  for (let attempt = 1; ; attempt++) {
    const client = openClient(target, name)
    const code = await Promise.race([client.synced.then(() => null), client.closed])
    if (code === null) return client
    client.close()
    if (attempt === 10) throw new Error(`${name}: closed with ${code} before its first sync, ${attempt} times`)
    process.stderr.write(`loadgen: ${name} closed with ${code} before its first sync; opening it again\n`)
    await sleep(100 * attempt)
  }
}

/** Opens clients in batches (a burst of thousands of handshakes only measures the accept queue). */
async function openMany(target: Target, tokens: string[], names: string[], wsUrls?: string[]): Promise<BenchClient[]> {
  const clients: BenchClient[] = []
  const wsUrl = (k: number) => (wsUrls?.length ? wsUrls[k % wsUrls.length]! : target.wsUrl)
  for (let i = 0; i < names.length; i += CONNECT_BATCH) {
    const batch = names
      .slice(i, i + CONNECT_BATCH)
      .map((name, j) => openSynced({ ...target, wsUrl: wsUrl(i + j), token: tokens[(i + j) % tokens.length]! }, name))
    clients.push(...(await Promise.all(batch)))
  }
  return clients
}

async function fanout(job: Extract<Job, { role: 'fanout' }>) {
  const readers = await openMany(job.target, job.tokens, Array(job.readers).fill(job.docName), job.wsUrls)
  const writerTarget = job.writerWsUrl ? { ...job.target, wsUrl: job.writerWsUrl } : job.target
  const [writer] = await openMany(writerTarget, job.tokens.slice(1).concat(job.tokens), [job.docName])
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
  const clients = await openMany(job.target, job.tokens, names, job.wsUrls)
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

/**
 * A cluster's owner killed: a writer and an observer on another member (relayed to the
 * owner) edit on; after `killAfterMs` the owner is SIGKILLed. Reported: the time from the kill
 * until the observer receives the first edit typed after it (accepted by the next owner,
 * committed, and broadcast).
 */
async function failover(job: Extract<Job, { role: 'failover' }>) {
  const TIMEOUT_MS = 60_000
  const [writer, observer] = await openMany(job.target, job.tokens, [job.docName, job.docName])
  let killedAt = Number.POSITIVE_INFINITY
  let acceptedAt = 0
  observer!.onRemoteInsert((inserted, at) => {
    if (!acceptedAt && stampsIn(inserted).some((s) => s > killedAt)) acceptedAt = at
  })
  const startedAt = now()
  while (!acceptedAt && now() - startedAt < job.killAfterMs + TIMEOUT_MS) {
    if (killedAt === Number.POSITIVE_INFINITY && now() - startedAt >= job.killAfterMs) {
      process.kill(job.ownerPid, 'SIGKILL')
      killedAt = now()
    }
    if (writer!.isOpen()) writer!.insert(`|${now()}`)
    await sleep(1000 / job.rateHz)
  }
  writer!.close()
  observer!.close()
  return { killToFirstAcceptedMs: acceptedAt ? acceptedAt - killedAt : null }
}

const job = JSON.parse(process.argv[2]!) as Job
const handlers = { fanout, rooms, idle, write, read, durability, failover } as const
const result = await (handlers[job.role] as (j: Job) => Promise<unknown>)(job)
console.log(JSON.stringify(result))
process.exit(0)
