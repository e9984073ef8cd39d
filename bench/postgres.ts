/**
 * PostgreSQL for the benchmark: every run of Accord on PostgreSQL gets a database of its own,
 * created empty and dropped afterwards, on the server at `ACCORD_BENCH_DATABASE_URL` (default:
 * the local one, user postgres), whose user may create databases.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export const BENCH_PG_ADMIN_URL = process.env.ACCORD_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

async function adminQuery<T extends pg.QueryResultRow>(adminUrl: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
    return (await client.query<T>(sql)).rows
  } finally {
    await client.end().catch(() => {})
  }
}

/** The server's version (`PostgreSQL 15.20`); rejects with one line when it cannot be reached. */
export async function postgresVersion(adminUrl = BENCH_PG_ADMIN_URL): Promise<string> {
  try {
    const [row] = await adminQuery<{ server_version: string }>(adminUrl, 'SHOW server_version')
    return `PostgreSQL ${row!.server_version.split(' ')[0]}`
  } catch (error) {
    const url = new URL(adminUrl)
    url.password = ''
    throw new Error(`PostgreSQL at ${url} is unreachable (${(error as Error).message}); set ACCORD_BENCH_DATABASE_URL`)
  }
}

/** A new, empty database: its URL, and `drop()`, which removes it even while connections remain. */
export async function freshDatabase(adminUrl = BENCH_PG_ADMIN_URL): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `accord_bench_${randomBytes(6).toString('hex')}`
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => void (await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  }
}
