/**
 * TEST-ONLY crash points of a cluster member (docs/cluster.md, "Tests"). Never set in
 * production. `ACCORD_TEST_CRASH=<point>:<n>`, read here and nowhere else, makes the process
 * kill itself (SIGKILL: no handover, no cleanup, as a crash) at its n-th (1-based) commit:
 * - `before-commit`: inside the append's transaction, right after the fence locked the rows and
 *   before anything is written or committed (PostgreSQL rolls the transaction back);
 * - `after-commit`: after the commit, before its broadcast is published to the relays.
 * Unset (the default), both checks are a comparison with null.
 */

export type CrashPoint = 'before-commit' | 'after-commit'

const spec = /^(before-commit|after-commit):([1-9]\d*)$/.exec(process.env.ACCORD_TEST_CRASH ?? '')
const armed: { point: CrashPoint; at: number } | null = spec ? { point: spec[1] as CrashPoint, at: Number(spec[2]) } : null
let passed = 0

/** Kills this process when `point` is the armed one and this is its n-th pass. */
export function crashPoint(point: CrashPoint): void {
  if (armed?.point !== point) return
  if (++passed === armed.at) process.kill(process.pid, 'SIGKILL')
}
