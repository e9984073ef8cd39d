/**
 * Which user each awareness client id of a document belongs to. Pure apart from the
 * injected clock.
 *
 * Defends against presence squatting: once user A's socket closed, user B could announce A's
 * client id, and the stock provider keeps that id when it reconnects, so A's own updates were
 * then refused and everyone saw B's state under A's id. An id is bound to the first user who
 * announces it for as long as a state under it could still be alive: `ttlMs` (the awareness
 * timeout) after its user last announced it or closed the socket that did. Across that user's
 * reconnects, and across the room unloading and loading again meanwhile: the registry keeps
 * the bindings, not the room.
 */
export class PresenceBindings {
  /** Holder and expiry by `docName#clientId`, in order of expiry (`hold` moves an entry to the end). */
  private readonly held = new Map<string, { userId: string; until: number }>()

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `userId` may announce `clientId` in `docName`: the id is unbound, expired, or bound to them. */
  mayAnnounce(docName: string, clientId: number, userId: string): boolean {
    const binding = this.held.get(keyOf(docName, clientId))
    return binding === undefined || binding.userId === userId || binding.until <= this.now()
  }

  /** Binds `clientId` of `docName` to `userId` (or keeps it bound) for `ttlMs` from now. */
  hold(docName: string, clientId: number, userId: string): void {
    const key = keyOf(docName, clientId)
    this.held.delete(key)
    this.held.set(key, { userId, until: this.now() + this.ttlMs })
  }

  /** Forgets the expired bindings (the oldest first; stops at the first live one). */
  sweep(): void {
    const now = this.now()
    for (const [key, binding] of this.held) {
      if (binding.until > now) return
      this.held.delete(key)
    }
  }

  /** Bindings kept, expired ones not yet swept included. */
  get size(): number {
    return this.held.size
  }
}

/** Document names hold no `#` (see shared/docNames.ts). */
function keyOf(docName: string, clientId: number): string {
  return `${docName}#${clientId}`
}
