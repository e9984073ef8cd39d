/**
 * The fencing check of a cluster member's commits (docs/cluster.md). Called inside the
 * transaction that writes documents, it proves that the member still owns each of them at the
 * epoch of its claim, and keeps that proof true until the transaction ends: it takes each
 * document's `doc_owners` row `FOR SHARE`, and a claim must lock the same row `FOR UPDATE`
 * (Membership.ts) to raise the epoch.
 *
 * So a transaction either commits before any newer claim of its documents completes (the
 * claim waits for it, and the new owner loads what it wrote), or it sees the newer epoch and
 * throws `FencedError`, and the caller's rollback discards everything it wrote. A member that
 * lost a document, however long it was paused or cut off, never writes it after a newer owner
 * has.
 *
 * The shared lock would let a paused holder block every claim of its documents, so the check
 * also arms `idle_in_transaction_session_timeout` for the rest of the transaction: PostgreSQL
 * ends the session of a transaction left idle that long (a paused or partitioned process),
 * which rolls it back and releases the lock.
 */
import type { PoolClient } from '../pg/openPool.js'

/** A document a member claimed, and the epoch the claim gave it. */
export interface Holding {
  readonly doc: string
  readonly epoch: number
}

/**
 * Why a write was refused: `owner`, PostgreSQL names another owner or a newer epoch; `lease`,
 * the member's own lease could not be renewed in time (Membership.ts); `not-held`, the member
 * holds no claim on the document.
 */
export type FencedReason = 'owner' | 'lease' | 'not-held'

/** A member may not write these documents: it must drop them and close their sockets. */
export class FencedError extends Error {
  constructor(
    readonly member: string,
    readonly docs: readonly string[],
    readonly reason: FencedReason,
  ) {
    super(
      reason === 'lease'
        ? `member ${member} may not write ${docs.join(', ')}: its lease was not renewed in time`
        : reason === 'not-held'
          ? `member ${member} holds no claim on ${docs.join(', ')}`
          : `member ${member} no longer owns ${docs.join(', ')} at its epoch: a newer claim took it`,
    )
    this.name = 'FencedError'
  }
}

export interface FenceCheck {
  /** The member writing. */
  member: string
  holdings: readonly Holding[]
  /**
   * How long the rest of the transaction may stay idle before PostgreSQL ends it, in ms: at
   * most the lease, so a paused holder's lock is gone by the time its lease has expired.
   */
  idleTimeoutMs: number
}

/**
 * Throws `FencedError` unless `member` owns every document of `holdings` at its epoch, and
 * holds their rows for the rest of the transaction. `client` must be inside a transaction
 * (BEGIN); call it before the transaction writes, so the wait for a claim in progress comes
 * first (called after, it still guards the commit).
 */
export async function fence(client: PoolClient, check: FenceCheck): Promise<void> {
  if (check.holdings.length === 0) return
  const docs = check.holdings.map((h) => h.doc)
  // Rows are locked in name order, as every multi-document writer locks them: no deadlock.
  // The rows returned are the newest versions (a claim committed while this waited is seen).
  const { rows } = await client.query<{ doc: string; owner: string | null; epoch: number }>({
    name: 'cluster-fence',
    text: `WITH armed AS (SELECT set_config('idle_in_transaction_session_timeout', $2, true))
      SELECT o.doc, o.owner, o.epoch FROM doc_owners o, armed WHERE o.doc = ANY($1::text[]) ORDER BY o.doc FOR SHARE OF o`,
    values: [docs, String(Math.max(1, Math.round(check.idleTimeoutMs)))],
  })
  const found = new Map(rows.map((row) => [row.doc, row]))
  const lost = check.holdings.filter((h) => {
    const row = found.get(h.doc)
    return row?.owner !== check.member || row.epoch !== h.epoch
  })
  if (lost.length > 0)
    throw new FencedError(
      check.member,
      lost.map((h) => h.doc),
      'owner',
    )
}
