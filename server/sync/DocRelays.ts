/**
 * The seam through which a socket is served when its document is owned by another process
 * (a cluster member's relay, docs/cluster.md): the sync endpoint keeps the socket and hands
 * its messages to a relay instead of a room. The core knows only this interface; the cluster
 * implements it (server/cluster/RelayHub.ts).
 */
import type { Peer } from './types.js'

/** A socket the relay serves; `peer` is as the endpoint authenticated it. */
export interface RelayClient {
  readonly peer: Peer
  /**
   * No process owns the document any more (a message to its owner reached nobody): the
   * relay let go of the client, and `unsent` (in the order the client sent them) were not
   * delivered. The endpoint opens the document here, which claims it.
   */
  ownerless(unsent: Uint8Array[]): void
}

/** What the endpoint holds for a relayed socket. */
export interface RelayedConnection {
  /** One message from the client; throws MalformedMessageError on what cannot be read. */
  handleMessage(data: Uint8Array): void
  /** The socket closed. */
  leave(): void
}

export interface DocRelays {
  /** Serves `client` for `docName`, which another process owns. */
  relay(docName: string, client: RelayClient): RelayedConnection
}
