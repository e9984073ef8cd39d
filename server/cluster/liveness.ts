/**
 * What the members' leases say about others, for the sweeps that clean up after a member that
 * died without a word (docs/cluster.md, "Relays"): its relayed clients at an owner, its
 * documents at the relays. Read through the stores' pool (never the membership's, which
 * renews the lease), judged by PostgreSQL's clock as every lease is.
 */
import type { Pool } from '../pg/openPool.js'
import { NOW } from './Membership.js'

/** Of `members`, those whose lease is live. */
export async function liveMembers(pool: Pool, members: readonly string[]): Promise<Set<string>> {
  if (members.length === 0) return new Set()
  const { rows } = await pool.query<{ id: string }>({
    name: 'cluster-live-members',
    text: `SELECT id FROM cluster_members WHERE id = ANY($1::text[]) AND lease_until > ${NOW}`,
    values: [members],
  })
  return new Set(rows.map((row) => row.id))
}

/** Of `docs`, those no live member owns (never claimed, released, or their owner's lease ended): claimable now. */
export async function unownedDocs(pool: Pool, docs: readonly string[]): Promise<string[]> {
  if (docs.length === 0) return []
  const { rows } = await pool.query<{ doc: string }>({
    name: 'cluster-unowned-docs',
    text: `SELECT d.doc FROM unnest($1::text[]) AS d(doc)
      WHERE NOT EXISTS (SELECT 1 FROM doc_owners o JOIN cluster_members m ON m.id = o.owner
        WHERE o.doc = d.doc AND m.lease_until > ${NOW})`,
    values: [docs],
  })
  return rows.map((row) => row.doc)
}
