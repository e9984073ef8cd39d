/**
 * An owner's notices of a document's log head to its relays (docs/cluster.md, "Relays"): a
 * by-reference broadcast of the last number committed (busMessages.ts `referenceOf`), a few
 * bytes. A relay that already has it drops it as a duplicate; one that missed the last
 * broadcasts (lost by Redis, or never published: a publish that failed, an owner that crashed
 * between its commit and its broadcast) reads them from the log (RelayStream.ts). Without it,
 * a loss with nothing committed after it would stay invisible to the relay.
 *
 * Sent a while after a document's last commit (and after its load, for what a previous owner
 * committed without announcing), then again after longer waits, in case a notice is lost too;
 * a commit starts the series again. A notice that reaches no relay ends the series.
 */

/** After the last commit (or the load), the waits before each notice. */
export const HEAD_NOTICE_DELAYS_MS: readonly number[] = [300, 2000, 8000]

export class HeadNotices {
  readonly #docs = new Map<string, { last: number; step: number; timer: NodeJS.Timeout }>()
  #closed = false

  /** `publish` sends the notice of `last` on `doc`'s relays channel and resolves with the relays reached. */
  constructor(
    private readonly publish: (doc: string, last: number) => Promise<number>,
    private readonly delays: readonly number[] = HEAD_NOTICE_DELAYS_MS,
  ) {}

  /** `doc`'s log now ends at `last`: notices of it follow, the first after the first delay. */
  committed(doc: string, last: number): void {
    if (this.#closed || last < 1) return
    const known = this.#docs.get(doc)
    if (known) clearTimeout(known.timer)
    this.#arm(doc, Math.max(last, known?.last ?? 0), 0)
  }

  /** `doc` left this member: no more notices of it. */
  forget(doc: string): void {
    const known = this.#docs.get(doc)
    if (known) clearTimeout(known.timer)
    this.#docs.delete(doc)
  }

  close(): void {
    this.#closed = true
    for (const doc of [...this.#docs.keys()]) this.forget(doc)
  }

  #arm(doc: string, last: number, step: number): void {
    const delay = this.delays[step]
    if (delay === undefined) return void this.#docs.delete(doc)
    const timer = setTimeout(() => {
      this.publish(doc, last).then(
        (relays) => {
          if (this.#docs.get(doc)?.timer !== timer) return
          if (relays === 0) this.#docs.delete(doc)
          else this.#arm(doc, last, step + 1)
        },
        // Redis unreachable: its relays read the log once they are subscribed again (Bus `onResubscribed`).
        () => {
          if (this.#docs.get(doc)?.timer === timer) this.#arm(doc, last, step + 1)
        },
      )
    }, delay)
    timer.unref()
    this.#docs.set(doc, { last, step, timer })
  }
}
