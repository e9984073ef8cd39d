/**
 * Cluster members as real `accord serve` processes (docs/cluster.md) on one fresh, migrated
 * PostgreSQL database and the shared Redis, and clients behind a pretend load balancer: a
 * client whose member went away (closed its socket and is no longer live) reconnects to the
 * next live member. For tests that kill, crash or restart members.
 */
import { afterAll } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { notesOf } from '../../shared/docLayout.js'
import { PgDocStore } from '../../server/store/PgDocStore.js'
import { type ChildServer, databaseArgs, killHard, runCli, spawnServer } from './child.js'
import { useMigratedDatabase } from './pg.js'
import { REDIS_URL } from './redis.js'
import { type Api, login, provider, until } from './server.js'

export interface ProcessMember {
  readonly node: string
  child: ChildServer
  /** Whether the load balancer sends clients to it. */
  live: boolean
  readonly port: number
}

export function useClusterProcesses(leaseMs: number) {
  const database = useMigratedDatabase()
  const members: ProcessMember[] = []
  const providers: WebsocketProvider[] = []
  afterAll(async () => {
    for (const p of providers) p.destroy()
    for (const m of members) await killHard(m.child)
  })

  const spawnMember = (node: string, port: number, env: Record<string, string>) =>
    spawnServer(database.url, port, {
      ACCORD_REDIS_URL: REDIS_URL,
      ACCORD_NODE_ID: node,
      ACCORD_CLUSTER_LEASE_MS: String(leaseMs),
      ...env,
    })

  const fixture = {
    get pool() {
      return database.pool
    },
    /** A workspace `name` with one member user, signed in through `on`. */
    async workspace(name: string, on: ProcessMember): Promise<Api> {
      const db = databaseArgs(database.url)
      expect0(runCli(['workspace', 'add', name, ...db]).status)
      const email = `w@${name}.test`
      expect0(runCli(['user', 'add', '--workspace', name, '--email', email, '--password', 'password1', '--role', 'member', ...db]).status)
      return login(on.child.url, email, 'password1')
    },
    /** Starts a member (env added to the cluster's, e.g. ACCORD_TEST_CRASH). */
    async member(node: string, env: Record<string, string> = {}): Promise<ProcessMember> {
      const child = await spawnMember(node, 0, env)
      const member = { node, child, live: true, port: Number(new URL(child.url).port) }
      child.child.once('exit', () => {
        if (member.child === child) member.live = false
      })
      members.push(member)
      return member
    },
    /** Starts a member that exited again, on its port, and sends it clients again. */
    async restart(member: ProcessMember): Promise<void> {
      const child = await spawnMember(member.node, member.port, {})
      member.child = child
      member.live = true
      child.child.once('exit', () => {
        if (member.child === child) member.live = false
      })
    },
    /**
     * A client of `docName` on `on`, moved by the load balancer to the next live member
     * of `group` whenever its socket closes while its member is not live.
     */
    client(on: ProcessMember, docName: string, token: string, group: readonly ProcessMember[] = members): WebsocketProvider {
      let at = on
      const p = provider(on.child.wsUrl, docName, token)
      providers.push(p)
      p.on('connection-close', () => {
        if (at.live) return
        const next = group
          .slice(group.indexOf(at) + 1)
          .concat(group)
          .find((m) => m.live)
        if (!next) return
        at = next
        p.serverUrl = `${next.child.wsUrl}/sync`
      })
      return p
    },
    ownerOf: async (doc: string): Promise<string | null> =>
      (await database.pool.query('SELECT owner FROM doc_owners WHERE doc = $1', [doc])).rows[0]?.owner ?? null,
    /** The document replayed from PostgreSQL's log (snapshot and updates). */
    async replayed(docName: string): Promise<Y.Doc> {
      const doc = new Y.Doc()
      for (const update of (await new PgDocStore(database.pool).load(docName)).updates) Y.applyUpdate(doc, update)
      return doc
    },
    /**
     * Waits until every marker is in PostgreSQL exactly once and every client holds exactly
     * what the log replays to (the same notes, the same state vector).
     */
    async converged(docName: string, markers: readonly string[], clients: readonly WebsocketProvider[]): Promise<string> {
      let text = ''
      await until(
        async () => {
          text = notesOf(await fixture.replayed(docName)).toString()
          return markers.every((m) => text.split(m).length === 2)
        },
        'every marker typed in PostgreSQL exactly once',
        40_000,
      )
      await until(
        async () => {
          const replay = await fixture.replayed(docName)
          const vector = Buffer.from(Y.encodeStateVector(replay)).toString('hex')
          text = notesOf(replay).toString()
          return clients.every(
            (p) => notesOf(p.doc).toString() === text && Buffer.from(Y.encodeStateVector(p.doc)).toString('hex') === vector,
          )
        },
        'every client holds what the log replays to',
        40_000,
      )
      return text
    },
  }
  return fixture
}

function expect0(status: number | null): void {
  if (status !== 0) throw new Error(`accord CLI exited with ${status}`)
}

/** Clients typing markers `<label:n>` at the end of the notes every `everyMs`, until `stop()`. */
export function typing(clients: readonly WebsocketProvider[], everyMs = 20) {
  const typed: string[] = []
  let n = 0
  const timer = setInterval(() => {
    clients.forEach((p, i) => {
      const marker = `<${i}:${n}>`
      typed.push(marker)
      const notes = notesOf(p.doc)
      notes.insert(notes.length, marker)
    })
    n++
  }, everyMs)
  return {
    typed,
    get rounds() {
      return n
    },
    stop: () => clearInterval(timer),
  }
}
