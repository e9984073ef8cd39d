/** Forks a cluster member into a process of its own (clusterMemberChild.ts) and talks to it. */
import { type ChildProcess, fork } from 'node:child_process'
import { join } from 'node:path'
import type { MembershipOptions } from '../../server/cluster/Membership.js'

const CHILD = join(import.meta.dirname, 'clusterMemberChild.ts')

/** An error the child answered with (a FencedError keeps its reason). */
export interface ChildError {
  name: string
  message: string
  reason?: string
}

export interface ForkedMember {
  /** The member's id (its owner name in `doc_owners`). */
  id: string
  child: ChildProcess
  /** Sends one operation; resolves with its reply, rejects with the child's error as a `ChildError`. */
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>
  /** SIGKILL, and resolves once the process is gone. */
  kill(): Promise<void>
}

/** A started member on `url` (tables migrated, `fenced_writes` made by the test). */
export async function forkMember(url: string, options: Omit<MembershipOptions, 'onLost' | 'onError'>): Promise<ForkedMember> {
  const child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>()
  let seq = 0
  child.on('message', (message: { seq: number; reply?: unknown; error?: ChildError }) => {
    const pending = waiting.get(message.seq)
    waiting.delete(message.seq)
    if (message.error) pending?.reject(message.error)
    else pending?.resolve(message.reply)
  })
  child.on('exit', (code, signal) => {
    for (const pending of waiting.values()) pending.reject(new Error(`member process exited (${code ?? signal})`))
    waiting.clear()
  })
  const call = <T>(op: string, args: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const n = ++seq
      waiting.set(n, { resolve: resolve as (v: unknown) => void, reject })
      child.send({ seq: n, op, ...args })
    })
  await new Promise<void>((resolve, reject) => {
    waiting.set(0, { resolve: () => resolve(), reject })
  })
  const id = await call<string>('start', { url, options })
  return {
    id,
    child,
    call,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGKILL')
      }),
  }
}
