/**
 * A TCP proxy in front of Redis that loses or repeats pub/sub messages on their way to the
 * subscribers (members), as a test's `decide` says for each: what Redis itself does to a
 * subscriber whose connection breaks, or to one that reads twice what a retry sent twice.
 * The direction towards the members is parsed as RESP2 (node-redis's default): a message
 * pushed to a subscriber is an array `message`, channel, payload. Everything else passes.
 */
import { type Server, type Socket, createConnection, createServer } from 'node:net'

export type Fate = 'pass' | 'drop' | 'twice'

export interface RedisProxy {
  /** `redis://127.0.0.1:<port>`, for the members. */
  readonly url: string
  /** Decides each pushed message's fate by its channel. @default () => 'pass' */
  decide: (channel: string) => Fate
  /** Messages dropped and repeated so far. */
  readonly counts: { dropped: number; repeated: number }
  close(): Promise<void>
}

/** The end of the RESP2 value starting at `at` in `buf`, or -1 when it is not all there. */
function endOf(buf: Buffer, at: number): number {
  if (at >= buf.length) return -1
  const line = buf.indexOf('\r\n', at)
  if (line < 0) return -1
  const type = String.fromCharCode(buf[at]!)
  if (type === '+' || type === '-' || type === ':') return line + 2
  const n = Number(buf.toString('latin1', at + 1, line))
  if (type === '$') {
    if (n < 0) return line + 2
    const end = line + 2 + n + 2
    return end <= buf.length ? end : -1
  }
  if (type === '*') {
    let end = line + 2
    for (let i = 0; i < n; i++) {
      end = endOf(buf, end)
      if (end < 0) return -1
    }
    return end
  }
  throw new Error(`unexpected RESP type ${JSON.stringify(type)} from Redis`)
}

/** The channel of a pushed `message`, or null for any other value. */
function channelOf(frame: Buffer): string | null {
  if (!frame.subarray(0, 17).equals(Buffer.from('*3\r\n$7\r\nmessage\r\n'))) return null
  const line = frame.indexOf('\r\n', 17)
  const n = Number(frame.toString('latin1', 18, line))
  return frame.toString('utf8', line + 2, line + 2 + n)
}

export async function startRedisProxy(redisUrl: string): Promise<RedisProxy> {
  const target = new URL(redisUrl)
  const sockets = new Set<Socket>()
  const counts = { dropped: 0, repeated: 0 }
  const proxy = { decide: (() => 'pass') as RedisProxy['decide'], counts }
  const server: Server = createServer((client) => {
    const upstream = createConnection(Number(target.port || 6379), target.hostname)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(socket)
      })
    }
    client.pipe(upstream)
    let pending: Buffer = Buffer.alloc(0)
    upstream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      let at = 0
      for (let end = endOf(pending, at); end > 0; end = endOf(pending, at)) {
        const frame = pending.subarray(at, end)
        const channel = channelOf(frame)
        const fate = channel === null ? 'pass' : proxy.decide(channel)
        if (fate === 'drop') counts.dropped++
        else client.write(frame)
        if (fate === 'twice') {
          counts.repeated++
          client.write(frame)
        }
        at = end
      }
      pending = Buffer.from(pending.subarray(at))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return Object.assign(proxy, {
    url: `redis://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  })
}
