/**
 * The integration tests that must hold on both backends declare their suite once, through
 * `describeBackends`: one suite on SQLite, one on PostgreSQL (skipped with one line when no
 * PostgreSQL is reachable, except on CI; test/helpers/pg.ts).
 */
import { describe } from 'vitest'
import { skipPg } from './pg.js'
import type { TestBackend } from './server.js'

export const BACKEND_NAMES: Record<TestBackend, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' }

/** `body` once per backend, in a suite named `name (SQLite)`, `name (PostgreSQL)`; pass `backend` on to `startServer`. */
export function describeBackends(name: string, body: (backend: TestBackend) => void): void {
  for (const backend of ['sqlite', 'postgres'] as const) {
    describe.skipIf(backend === 'postgres' && skipPg)(`${name} (${BACKEND_NAMES[backend]})`, () => body(backend))
  }
}
