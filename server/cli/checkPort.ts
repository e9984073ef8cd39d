/**
 * `accord serve` checks its port before it opens (and perhaps creates and seeds) the
 * database, so a taken port costs nothing and says so in one line.
 */
import { createServer } from 'node:net'

/**
 * Resolves once `host:port` could be bound, and has released it again; rejects with the
 * bind error (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`…) otherwise. Port 0 always passes.
 * Another process may still take the port before the server listens; `listenFailure`
 * words that case the same way.
 */
export function checkPort(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()))
  })
}

/** One line for an error from binding `host:port`, or null when it is not a bind error. */
export function listenFailure(error: unknown, host: string, port: number): string | null {
  switch ((error as { code?: string }).code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is taken; set PORT=0 (or --port 0) for any free port, or choose another port`
    case 'EACCES':
      return `not allowed to listen on port ${port} on ${host}; choose a port above 1023, or PORT=0 for any free port`
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${host}: no such address on this machine`
    default:
      return null
  }
}
