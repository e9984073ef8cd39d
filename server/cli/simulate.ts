/**
 * `accord simulate --users N --duration S [--url URL ...] [--db FILE | --database-url URL] [--login EMAIL:PASSWORD ...]`
 *
 * Without `--url` it starts its own server (on a temporary database, or `--db`) and
 * seeds a `sim` workspace with one member per user. With `--url` it signs in as the
 * `--login` accounts, cycled over the users (default: the demo users alice, bob and
 * carol with the demo password). `--url` given several times names members of one cluster:
 * the users are spread over them. Exits 1 when an invariant is violated.
 */
import { parseArgs } from 'node:util'
import { runSimulation } from '../sim/runSimulation.js'

const MAX_USERS = 500
const MAX_DURATION_S = 3600

export class SimulateUsageError extends Error {}

export async function simulate(args: string[]): Promise<void> {
  let values: { users?: string; duration?: string; url?: string[]; db?: string; 'database-url'?: string; login?: string[] }
  try {
    values = parseArgs({
      args,
      options: {
        users: { type: 'string' },
        duration: { type: 'string' },
        url: { type: 'string', multiple: true },
        db: { type: 'string' },
        'database-url': { type: 'string' },
        login: { type: 'string', multiple: true },
      },
      strict: true,
    }).values
  } catch (error) {
    throw new SimulateUsageError((error as Error).message.split('\n')[0]!)
  }
  const users = positiveInt(values.users ?? '10', '--users', MAX_USERS)
  const durationS = positiveInt(values.duration ?? '10', '--duration', MAX_DURATION_S)
  const logins = values.login?.map((pair) => {
    const at = pair.indexOf(':')
    if (at < 1) throw new SimulateUsageError(`--login must be EMAIL:PASSWORD, not "${pair}"`)
    return { email: pair.slice(0, at), password: pair.slice(at + 1) }
  })
  const urls = values.url?.map((url) => url.replace(/\/+$/, ''))
  const databaseUrl = values['database-url'] || (values.db ? undefined : process.env.ACCORD_DATABASE_URL) || undefined
  const report = await runSimulation({ users, durationS, url: urls?.[0], urls, db: values.db, databaseUrl, logins })
  if (!report.ok) throw new Error(`${report.violations.length} invariant(s) violated: ${report.violations[0]}`)
}

function positiveInt(raw: string, name: string, max: number): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new SimulateUsageError(`${name} must be a whole number from 1 to ${max}, not "${raw}"`)
  return n
}
