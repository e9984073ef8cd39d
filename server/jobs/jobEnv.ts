/**
 * Job configuration from the environment (documented in README "Configuration").
 */
import type { JobOptions } from './JobService.js'

function positiveInt(env: NodeJS.ProcessEnv, name: string, min = 1): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}, not "${raw}"`)
  return value
}

/** Reads ACCORD_JOB_CONCURRENCY, ACCORD_JOB_LEASE_MS, ACCORD_EXPORT_DIR and the Google Sheets settings. */
export function jobOptionsFromEnv(env: NodeJS.ProcessEnv): JobOptions {
  const credentials = env.ACCORD_SHEETS_CREDENTIALS || env.GOOGLE_APPLICATION_CREDENTIALS || undefined
  const apiRoot = env.ACCORD_SHEETS_API_ROOT || undefined
  return {
    concurrency: positiveInt(env, 'ACCORD_JOB_CONCURRENCY'),
    leaseMs: positiveInt(env, 'ACCORD_JOB_LEASE_MS', 100),
    exportDir: env.ACCORD_EXPORT_DIR || undefined,
    sheets: credentials
      ? {
          credentials,
          apiRoot: apiRoot && !apiRoot.endsWith('/') ? `${apiRoot}/` : apiRoot,
          writesPerMinute: positiveInt(env, 'ACCORD_SHEETS_WRITES_PER_MINUTE'),
        }
      : undefined,
  }
}
