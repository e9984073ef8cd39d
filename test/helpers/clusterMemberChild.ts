/**
 * A cluster member in a process of its own (test/helpers/clusterMember.ts forks it), so a test
 * can pause it (SIGSTOP) or kill it (SIGKILL) as a real process is. Every message from the
 * parent is `{ seq, op, … }` and is answered `{ seq, reply }` or `{ seq, error }`.
 */
import { FencedError, fence } from '../../server/cluster/fence.js'
import { Membership, type MembershipOptions } from '../../server/cluster/Membership.js'
import { inTransaction } from '../../server/pg/inTransaction.js'
import { type Pool, openPool } from '../../server/pg/openPool.js'

let pool: Pool
let member: Membership
const lost: string[] = []
let commitHeld: (() => void) | undefined
let held: Promise<void> | undefined

type Message = { seq: number; op: string; [key: string]: unknown }

const insert = 'INSERT INTO fenced_writes (doc, writer, n) VALUES ($1, $2, $3)'

async function handle(message: Message): Promise<unknown> {
  const { op } = message
  const doc = message.doc as string
  switch (op) {
    case 'start':
      pool = await openPool(message.url as string, { max: 3, onError: () => {} })
      member = new Membership(pool, { ...(message.options as MembershipOptions), onLost: (d) => lost.push(d) })
      await member.start()
      return member.id
    case 'claim':
      return member.claim(doc)
    case 'hold': {
      // A transaction left open after its fenced write, as a process paused before its COMMIT leaves it.
      let begun!: () => void
      const ready = new Promise<void>((resolve) => (begun = resolve))
      held = inTransaction(pool, async (client) => {
        await member.fence(client, [doc])
        await client.query(insert, [doc, message.writer, message.n])
        begun()
        await new Promise<void>((resolve) => (commitHeld = resolve))
      })
      await Promise.race([ready, held])
      return 'holding'
    }
    case 'commit':
      commitHeld?.()
      await held
      return 'committed'
    case 'write':
      // Written first, then fenced: the fence must roll back what the transaction already wrote.
      await inTransaction(pool, async (client) => {
        await client.query(insert, [doc, message.writer, message.n])
        await fence(client, { member: member.id, holdings: [{ doc, epoch: message.epoch as number }], idleTimeoutMs: member.leaseMs })
      })
      return 'written'
    case 'state':
      return { canWrite: member.canWrite(), held: [...member.held()], lost }
    default:
      throw new Error(`unknown op ${op}`)
  }
}

process.on('message', (message: Message) => {
  handle(message).then(
    (reply) => process.send!({ seq: message.seq, reply }),
    (error: Error) =>
      process.send!({
        seq: message.seq,
        error: { name: error.name, message: error.message, reason: error instanceof FencedError ? error.reason : undefined },
      }),
  )
})
process.send!({ seq: 0, reply: 'ready' })
