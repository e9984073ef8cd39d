/**
 * Calls across members (docs/cluster.md, "Calls"): the registry's server transactions
 * (`defineCall`: a REST write, an index entry, an inbox line, a booking decision) for a
 * document another member owns run at that owner, which applies, validates and commits them
 * (fenced) as its own, then broadcasts. Both ends are here: `forward` (the caller: a `call` on
 * the document's owner channel, the `answer` on this member's direct channel) and `serve` (the
 * owner: OwnerEnd hands it the `call`s of its owner channels).
 *
 * - A call that reaches no subscriber means no member owns the document: the caller claims it.
 * - A call reaching an owner that no longer holds the document is answered `notOwner`: the
 *   caller claims it or asks again (the registry's loop, a few times at most).
 * - No answer within `timeoutMs` (the owner died or was cut off while running it): the call
 *   rejects with PersistError (HTTP 503 `unavailable`); whether it ran is unknown.
 */
import { type Forwarded, NotOwnerError, PersistError } from '../sync/DocRegistry.js'
import type { Bus } from './Bus.js'
import { type Answer, CALL_OUTCOME, type Call, type CallOutcome, encodeBusMessage } from './busMessages.js'

/** Runs a forwarded call here (the registry's `runCall`). */
export type RunCall = (docName: string, name: string, args: unknown) => Promise<unknown>

export interface CallForwarderOptions {
  bus: Bus
  /** How long a caller waits for the owner's answer. @default 5000 */
  timeoutMs?: number
  onError: (error: unknown, context: string) => void
}

interface Waiting {
  readonly docName: string
  resolve(outcome: Forwarded): void
  reject(error: Error): void
  readonly timer: NodeJS.Timeout
}

export class CallForwarder {
  #nextId = 1
  readonly #waiting = new Map<number, Waiting>()
  #closed = false

  constructor(private readonly options: CallForwarderOptions) {}

  /** The caller's side: the registry's `DocForwarding`. */
  readonly forward = (docName: string, name: string, args: unknown): Promise<Forwarded> => {
    const { bus } = this.options
    if (this.#closed) return Promise.reject(new PersistError('this member is shutting down; try again'))
    const id = this.#nextId++
    const timeoutMs = this.options.timeoutMs ?? 5000
    const answered = new Promise<Forwarded>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new PersistError(`the member owning ${docName} did not answer within ${timeoutMs} ms; try again`))
      }, timeoutMs)
      timer.unref()
      this.#waiting.set(id, { docName, resolve, reject, timer })
    })
    const call: Call = { kind: 'call', caller: bus.member, id, name, args: JSON.stringify(args) ?? '' }
    bus.publish(docName, 'owner', encodeBusMessage(call)).then(
      (count) => {
        if (count === 0) this.#settle(id, (w) => w.resolve({ answered: false }))
      },
      (error: unknown) =>
        this.#settle(id, (w) =>
          w.reject(new PersistError(`cannot reach the member owning ${docName}: ${(error as Error).message}; try again`)),
        ),
    )
    return answered
  }

  /** An `answer` on this member's direct channel. */
  answer(message: Answer): void {
    this.#settle(message.id, (w) => {
      switch (message.outcome) {
        case CALL_OUTCOME.done:
          return w.resolve({ answered: true, value: message.body === '' ? undefined : JSON.parse(message.body) })
        case CALL_OUTCOME.notOwner:
          return w.resolve({ answered: false })
        case CALL_OUTCOME.persistFailed:
          return w.reject(new PersistError(message.body))
        default:
          return w.reject(new Error(`${message.body} (at the member owning ${w.docName})`))
      }
    })
  }

  /** The owner's side: runs a `call` from its owner channel and answers it. */
  serve(docName: string, call: Call, run: RunCall): void {
    const reply = (outcome: CallOutcome, body: string) =>
      this.options.bus
        .send(call.caller, encodeBusMessage({ kind: 'answer', id: call.id, outcome, body }))
        .catch((error: unknown) => this.options.onError(error, 'call answer'))
    let args: unknown
    try {
      args = call.args === '' ? undefined : JSON.parse(call.args)
    } catch (error) {
      void reply(CALL_OUTCOME.failed, `malformed arguments of ${call.name}: ${(error as Error).message}`)
      return
    }
    run(docName, call.name, args).then(
      (value) => reply(CALL_OUTCOME.done, JSON.stringify(value) ?? ''),
      (error: unknown) => {
        if (error instanceof NotOwnerError) return reply(CALL_OUTCOME.notOwner, '')
        const message = error instanceof Error ? error.message : String(error)
        return reply(error instanceof PersistError ? CALL_OUTCOME.persistFailed : CALL_OUTCOME.failed, message)
      },
    )
  }

  /** Calls still waiting for an answer (tests). */
  get waiting(): number {
    return this.#waiting.size
  }

  /** Rejects every call still waiting (the member is stopping). */
  close(): void {
    this.#closed = true
    for (const id of [...this.#waiting.keys()])
      this.#settle(id, (w) => w.reject(new PersistError('this member stopped before the owner answered; try again')))
  }

  #settle(id: number, settle: (waiting: Waiting) => void): void {
    const waiting = this.#waiting.get(id)
    if (!waiting) return
    this.#waiting.delete(id)
    clearTimeout(waiting.timer)
    settle(waiting)
  }
}
