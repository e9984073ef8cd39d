/**
 * How the sync core learns what a document is. The core (rooms, the registry, the commit
 * queue, the socket endpoint) knows documents, peers, updates, commits and broadcasts; each
 * kind of document hands it a policy from outside: who may open and write it, how a client's
 * transaction is checked and reverted, which parts a transaction changed (history), and what
 * is stored beside its updates (the projection). See docs/architecture.md.
 */
import type * as Y from 'yjs'
import type { ServerNotice } from '../../shared/protocol.js'
import type { Principal } from '../auth/types.js'
import type { OverwrittenPart } from '../store/DocStore.js'
import type { Projected } from './CommitQueue.js'
import type { AnyType } from './typeTree.js'

/** One thing wrong with what a client wrote, for the notice that tells it. */
export interface GuardIssue {
  path: string
  message: string
  /** `authority`: the client wrote what only the server writes; `invalid`: a value broke a rule. */
  reason: 'invalid' | 'authority'
}

/**
 * A notice for one user: sent, once the transaction is on disk, to each of that user's sockets
 * open to the document with notices on; kept for them until they next connect to it otherwise.
 */
export interface UserNotice {
  userId: string
  notice: ServerNotice
}

export interface GuardResult {
  /** What was wrong, for the sender. Empty when the transaction was valid. */
  issues: GuardIssue[]
  /** Applies the compensating changes; the room runs it in a transaction of its own. */
  revert: (() => void) | null
  /** Notices for users, the sender or others (both sides of an overwrite). */
  notices?: UserNotice[]
  /** Values someone else had set concurrently and that lost, for the history (stored with the transaction's update). */
  overwritten?: OverwrittenPart[]
}

/** What a guard may ask of the room about its document. */
export interface GuardContext {
  /**
   * The user who first wrote with a Yjs client id in this document (kept across restarts), or
   * null: the server's own writes, or a client id written before the server kept track.
   */
  authorOfClient(client: number): string | null
}

/**
 * Checks the transactions clients make on one loaded document, against the last state it
 * accepted. Made once the stored state is applied.
 */
export interface DocGuard {
  check(tr: Y.Transaction): GuardResult
  /** The document's current state is valid (after the server's own writes and accepted client writes). */
  accept(): void
  /**
   * What to put right in a document as it loads: a document stored by an earlier version may
   * hold what the guard now refuses. The room applies the revert as a server transaction.
   */
  repair?(): GuardResult
}

export interface DocPolicy<P extends Projected = Projected> {
  /** Whether `principal` may open the document at all (4403 otherwise). */
  mayOpen(principal: Principal): boolean
  /** Whether `principal`'s updates are applied; otherwise they are refused and compensated. */
  mayWrite(principal: Principal): boolean
  /** The notice reason a refused write gets. */
  readonly readOnlyReason: 'read-only' | 'server-only'
  /** Instantiates the document's typed roots (an undo manager only sees typed roots). */
  roots(doc: Y.Doc): AnyType[]
  /**
   * Reads, while the document's stored state is read, what its guard may need once the state
   * is applied (the guard runs synchronously, inside the room): the document loads once it
   * resolves, and fails to load if it rejects. Called once per load, before `guard`.
   */
  preload?(): Promise<void>
  /** The checker of clients' transactions, or null when every transaction a writer makes is accepted. */
  guard(doc: Y.Doc, context: GuardContext): DocGuard | null
  /** Which parts a transaction changed, as the history names them. */
  changedParts(doc: Y.Doc, tr: Y.Transaction): string[]
  /** What is stored beside a batch of the document's updates, in the same transaction. */
  project?(doc: Y.Doc, updates: readonly { author: string | null; at: number }[]): P | undefined
}

/** A document name resolved by its kind: what the name means, and its policy. */
export interface ResolvedDoc<N, P extends Projected = Projected> {
  name: N
  policy: DocPolicy<P>
}

/** Resolves a document name; null when no kind of document has that name (4404). */
export type DocResolver<N, P extends Projected = Projected> = (docName: string) => ResolvedDoc<N, P> | null
