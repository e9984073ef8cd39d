/**
 * `accord backup` and `accord restore` on PostgreSQL, through PostgreSQL's own tools:
 * `pg_dump` (a consistent snapshot of a live database, custom format) and `pg_restore`
 * (into an empty database, in one transaction). Accord does not bundle them; when they are
 * missing, the error says how to install them.
 */
import { spawn } from 'node:child_process'
import { renameSync, rmSync } from 'node:fs'
import { type Pool, displayUrl, openPool } from '../pg/openPool.js'

/** A PostgreSQL tool failed or is missing: one line saying why. */
export class PgToolError extends Error {}

const INSTALL_HINT =
  'install the PostgreSQL client tools of your server’s major version or newer (Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq) and put them on PATH'

/**
 * The tools get the URL without its password, which travels in `PGPASSWORD` instead: a
 * command line is visible to every user of the machine (`ps`), a process's environment is not.
 */
function connection(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  displayUrl(url)
  const parsed = new URL(url)
  const password = decodeURIComponent(parsed.password)
  parsed.password = ''
  return { dbname: parsed.toString(), env: password === '' ? process.env : { ...process.env, PGPASSWORD: password } }
}

/** Runs `tool`; its first error line, without the tool's own prefix, becomes the error. */
function run(tool: 'pg_dump' | 'pg_restore', args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString()
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new PgToolError(error.code === 'ENOENT' ? `${tool} is not installed: ${INSTALL_HINT}` : `${tool} did not start: ${error.message}`),
      )
    })
    child.on('close', (code, signal) => {
      if (code === 0) return resolve()
      const lines = stderr.split('\n').map((line) => line.trim())
      const line = lines.find((l) => /error:/.test(l)) ?? lines.find((l) => l !== '') ?? `exited with ${signal ?? code}`
      reject(new PgToolError(`${tool} failed: ${line.replace(new RegExp(`^${tool}: (error: )?`), '')}`))
    })
  })
}

/** `pg_dump --format=custom` of the database at `url` into the new file `target`. */
export async function backupPg(url: string, target: string): Promise<void> {
  const { dbname, env } = connection(url)
  const partial = `${target}.partial`
  try {
    await run('pg_dump', ['--format=custom', '--file', partial, '--dbname', dbname], env)
    renameSync(partial, target)
  } finally {
    rmSync(partial, { force: true })
  }
}

/**
 * `pg_restore` of the archive `file` into the database at `url`, which must hold no table:
 * into one that does, objects of two installations would mix. One transaction: a failure
 * leaves the database empty. Returns the restored schema version.
 */
export async function restorePg(url: string, file: string): Promise<number | null> {
  const { dbname, env } = connection(url)
  const pool = await openPool(url, { max: 1 })
  try {
    const tables = await tableCount(pool)
    if (tables > 0)
      throw new PgToolError(
        `${displayUrl(url)} is not empty (${tables} tables); restore into a new database (createdb NAME), or drop and create this one first`,
      )
    // Owners and grants name roles of the server the dump came from, which need not exist here.
    await run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', '--dbname', dbname, file], env)
    const { rows } = await pool.query<{ found: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS found")
    if (!rows[0]!.found) return null
    return (await pool.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations')).rows[0]!.version
  } finally {
    await pool.end()
  }
}

async function tableCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::integer AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND s.nspname NOT IN ('pg_catalog', 'information_schema') AND s.nspname NOT LIKE 'pg_toast%'`,
  )
  return rows[0]!.n
}
