/**
 * A TCP proxy in front of PostgreSQL that loses a COMMIT's outcome on purpose: the only way
 * to make a real server and a real driver lose one. The driver sends COMMIT as a simple
 * query (`Q`, length, `COMMIT\0`).
 */
import { type Socket, createConnection, createServer } from 'node:net'
import { type Pool, type PoolOptions, openPool } from '../../server/pg/openPool.js'

/**
 * How the next COMMIT's connection is cut: before the COMMIT reaches the server, after the
 * server answered it, or `late`: the client's side is cut at once and the COMMIT reaches the
 * server `lateMs` later, so the transaction commits after the client gave up on it. Or
 * `stall`: nothing is cut, the COMMIT reaches the server `lateMs` later (a server that hangs
 * meanwhile), and a client that gave up before then (its own timeout) never hears of it.
 */
export type CommitLoss = 'commit-request' | 'commit-reply' | 'commit-late' | 'commit-stall'

export interface PgProxy {
  /** A pool connecting through the proxy (one connection). */
  pool: Pool
  /** Arms the proxy to cut the next COMMIT's connection. */
  lose: CommitLoss | null
  /** For `commit-late`: how long the COMMIT is held. @default 300 */
  lateMs: number
  /** New connections are cut at once (the server looks unreachable); open ones go on. */
  refuse: boolean
  /** Connections cut at a COMMIT. */
  lost: number
  /** Statements the server finished (its ReadyForQuery messages, one per round trip), connecting included. */
  statements: number
  /** Resolves once every COMMIT held back (`commit-late`) reached the server and was answered. */
  lateCommits(): Promise<void>
}

/** `poolOptions`: of the proxy's pool (its timeouts, say); it has one connection. */
export async function withPgProxy(url: string, body: (proxy: PgProxy) => Promise<void>, poolOptions: PoolOptions = {}): Promise<void> {
  const target = new URL(url)
  const COMMIT = Buffer.from('COMMIT\0')
  const sockets = new Set<Socket>()
  const late: Promise<void>[] = []
  const proxy = {
    lose: null,
    lateMs: 300,
    refuse: false,
    lost: 0,
    statements: 0,
    lateCommits: () => Promise.all(late).then(() => {}),
  } as Omit<PgProxy, 'pool'> & { pool?: Pool }
  const server = createServer((client) => {
    client.on('error', () => {})
    if (proxy.refuse) {
      client.destroy()
      return
    }
    const upstream = createConnection(Number(target.port || 5432), target.hostname)
    upstream.on('error', () => {})
    sockets.add(client)
    sockets.add(upstream)
    /** Set while a late COMMIT is on its way: the server side stays open until it is answered. */
    let held = false
    client.on('close', () => {
      if (!held) upstream.destroy()
    })
    upstream.on('close', () => client.destroy())
    let cutOnReply = false
    const replies = messageTypes((type) => {
      if (type === 'Z') proxy.statements++
    })
    client.on('data', (chunk) => {
      const loss = proxy.lose
      if (loss && chunk.includes(COMMIT)) {
        proxy.lose = null
        proxy.lost++
        if (loss === 'commit-request') return void client.destroy()
        if (loss === 'commit-stall') {
          held = true
          late.push(
            new Promise<void>((resolve) => {
              setTimeout(() => {
                held = false
                upstream.once('data', () => {
                  if (client.destroyed) upstream.destroy()
                  resolve()
                })
                upstream.once('close', () => resolve())
                upstream.write(chunk)
              }, proxy.lateMs)
            }),
          )
          return
        }
        if (loss === 'commit-late') {
          held = true
          client.destroy()
          late.push(
            new Promise<void>((resolve) => {
              upstream.once('data', () => upstream.destroy())
              upstream.once('close', () => resolve())
              setTimeout(() => upstream.write(chunk), proxy.lateMs)
            }),
          )
          return
        }
        cutOnReply = true
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      replies(chunk)
      if (held) return
      if (cutOnReply) client.destroy()
      else client.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const through = new URL(url)
  through.host = `127.0.0.1:${(server.address() as { port: number }).port}`
  proxy.pool = await openPool(through.toString(), { ...poolOptions, max: 1 })
  try {
    await body(proxy as PgProxy)
  } finally {
    await proxy.pool.end()
    await proxy.lateCommits()
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
}

/** Calls `onMessage` with the type of each message of the server's side of a connection, across chunks (after the startup, every message is a type byte and an int32 length counting itself). */
function messageTypes(onMessage: (type: string) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0)
  return (chunk) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 5) {
      const length = 1 + pending.readUInt32BE(1)
      if (pending.length < length) return
      onMessage(String.fromCharCode(pending[0]!))
      pending = pending.subarray(length)
    }
  }
}
