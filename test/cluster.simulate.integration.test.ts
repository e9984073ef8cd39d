/**
 * `accord simulate` against a cluster (docs/cluster.md, "Tests"): three members in this
 * process on one fresh PostgreSQL database and the shared Redis, the simulated users spread
 * over them (`--url` three times), so most of their documents are owned by another member
 * than theirs. The run must end with every invariant holding.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { clusterServers } from './helpers/clusterServers.js'
import { skipPg } from './helpers/pg.js'
import { skipRedis } from './helpers/redis.js'

const BIN = join(import.meta.dirname, '..', 'bin', 'accord.js')

describe.skipIf(skipPg || skipRedis)('accord simulate against three members', () => {
  const cluster = clusterServers()

  it('[SIM4] `accord simulate --url A --url B --url C` passes its invariant checks with its users spread over the members', async () => {
    const members = await Promise.all(['s1', 's2', 's3'].map((node) => cluster.member(node)))
    const { owner, member, member2 } = cluster.users
    const logins = [owner, member, member2].flatMap((u) => ['--login', `${u.email}:${u.password}`])
    const urls = members.flatMap((m) => ['--url', m.url])
    const args = [BIN, 'simulate', '--users', '9', '--duration', '10', ...urls, ...logins]
    // Which members owned some of the users' documents at some point of the run (a document
    // leaves its owner once unused, so the end of the run may find a member holding none).
    const owners = new Set<number>()
    const sampling = setInterval(() => {
      members.forEach((m, i) => {
        if (m.server.cluster!.membership.held().size > 0) owners.add(i)
      })
    }, 100)
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (c: Buffer) => (out += c.toString()))
      child.stderr.on('data', (c: Buffer) => (err += c.toString()))
      child.on('close', (exit) => resolve({ code: exit, stdout: out, stderr: err }))
    })
    expect(stdout).toContain(`against ${members.map((m) => m.url).join(', ')}`)
    for (const check of ['all replicas converged', 'every edit present', 'no double booking', 'every job finished'])
      expect(stdout).toMatch(new RegExp(`ok +${check}`))
    expect(stdout).toMatch(/ok +no unexpected API errors/)
    expect(code, `${stdout}\n${stderr}`).toBe(0)
    expect(stdout).toContain('result: every invariant holds')
    clearInterval(sampling)
    // Every member served some of the users' documents as their owner.
    expect([...owners].sort()).toEqual([0, 1, 2])
  }, 180_000)
})
