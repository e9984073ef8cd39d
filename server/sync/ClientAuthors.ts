/**
 * Who wrote with each Yjs client id of one loaded document. Every item a client writes carries
 * its client id; knowing whose id it is names the author of any value in the document, however
 * long ago it was written: a client id belongs to the user who first wrote with it (the store
 * keeps the pairs with the updates that introduced them, see `StoredUpdate.clients`).
 *
 * The server's own writes on behalf of a user (REST writes) each use a client id of that user's,
 * not the document's one id, so that their values are that user's too; its other writes (the
 * authority, reverts, repairs) use the document's id, whose author is null.
 */
import { uint32 } from 'lib0/random'
import type * as Y from 'yjs'
import { isOrigin } from './types.js'

export class ClientAuthors {
  private readonly authors: Map<number, string | null>
  /** The client id of the server's writes on behalf of each user, for as long as the document is loaded. */
  private readonly serverClients = new Map<string, number>()
  private readonly serverIds = new Set<number>()
  /** The id of the server's writes on behalf of no one. */
  private ownClient: number

  constructor(
    private readonly doc: Y.Doc,
    stored: Iterable<[client: number, userId: string]>,
  ) {
    this.authors = new Map(stored)
    this.ownClient = doc.clientID
  }

  /** The user who first wrote with `client`, or null (the server's own id, or not known). */
  authorOf(client: number): string | null {
    return this.authors.get(client) ?? null
  }

  /** Registered on the document's `beforeTransaction`: picks the client id the transaction's own writes use. */
  handleBeforeTransaction(tr: Y.Transaction): void {
    // Yjs gives the document a new id when a client's update wrote with the current one; keep it.
    if (!this.serverIds.has(this.doc.clientID)) this.ownClient = this.doc.clientID
    const origin = tr.origin
    const author = isOrigin(origin) && origin.kind === 'server' ? origin.author : null
    this.doc.clientID = author === null ? this.ownClient : this.serverClientOf(author)
  }

  /**
   * The client ids a transaction wrote with first (now `author`'s), for the store; undefined
   * when there are none, or no author to keep them for.
   */
  introduced(tr: Y.Transaction, author: string | null): number[] | undefined {
    let added: number[] | undefined
    for (const [client, clock] of tr.afterState) {
      if (clock === (tr.beforeState.get(client) ?? 0) || this.authors.has(client)) continue
      this.authors.set(client, author)
      if (author !== null) (added ??= []).push(client)
    }
    return added
  }

  private serverClientOf(author: string): number {
    let id = this.serverClients.get(author)
    if (id === undefined) {
      do id = uint32()
      while (this.authors.has(id) || this.serverIds.has(id) || this.doc.store.clients.has(id) || id === this.ownClient)
      this.serverClients.set(author, id)
      this.serverIds.add(id)
    }
    return id
  }
}
