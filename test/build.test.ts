/**
 * The compiled server (`npm run build`, bin/compiled.js), built from a copy of the sources
 * whose node_modules lacks tsx: it serves, syncs and commits on its writer thread without a
 * TypeScript loader; a build missing a file, or older than a source, is not used and the CLI
 * goes back to the sources.
 */
import { spawnSync } from 'node:child_process'
import { appendFileSync, cpSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compiledServer } from '../bin/compiled.js'
import { notesOf } from '../shared/docLayout.js'
import { type ChildServer, killHard, runCli, spawnServer } from './helpers/child.js'
import { login, provider, synced, tempDir, until } from './helpers/server.js'

const REPO = join(import.meta.dirname, '..')
const root = tempDir('accord-build-')
const bin = join(root, 'bin', 'accord.js')
const db = join(root, 'data', 'accord.db')
const children: ChildServer[] = []

beforeAll(() => {
  for (const dir of ['server', 'shared', 'bin']) cpSync(join(REPO, dir), join(root, dir), { recursive: true })
  for (const file of ['package.json', 'tsconfig.json']) cpSync(join(REPO, file), join(root, file))
  mkdirSync(join(root, 'node_modules'))
  for (const name of readdirSync(join(REPO, 'node_modules'))) {
    if (name !== 'tsx' && name !== '.bin') symlinkSync(join(REPO, 'node_modules', name), join(root, 'node_modules', name))
  }
  const built = spawnSync(process.execPath, [join(root, 'bin', 'build-server.js')], { encoding: 'utf8', timeout: 60_000 })
  expect(built.stderr).toBe('')
  expect(built.stdout).toMatch(/^built the server into build\/ from \d+ files$/m)
})

afterAll(async () => {
  for (const c of children) await killHard(c)
  rmSync(root, { recursive: true, force: true })
})

describe('the compiled server', () => {
  it('runs without tsx: serves, syncs, commits on its writer thread, and what it broadcast survives a kill -9', async () => {
    expect(compiledServer(root)).toMatch(/\/build\/accord\.mjs$/)
    expect(runCli(['workspace', 'add', 'b', '--db', db], {}, bin).status).toBe(0)
    expect(
      runCli(['user', 'add', '--workspace', 'b', '--email', 'u@b.test', '--password', 'password1', '--role', 'member', '--db', db], {}, bin)
        .status,
    ).toBe(0)
    // Every commit on the compiled writer thread (by default a fast disk commits on the event loop).
    const first = await spawnServer(db, 0, { ACCORD_WRITER: 'thread' }, bin)
    children.push(first)
    const api = await login(first.url, 'u@b.test', 'password1')
    const created = await api.request('POST', '/api/records/deals', { title: 'Compiled' })
    expect(created.status).toBe(201)
    const docName = `b/deals/${created.body.id}`
    const writer = provider(first.wsUrl, docName, api.token)
    const reader = provider(first.wsUrl, docName, api.token)
    await Promise.all([synced(writer), synced(reader)])
    notesOf(writer.doc).insert(0, 'typed into the compiled server')
    await until(() => notesOf(reader.doc).toString() === 'typed into the compiled server', 'the reader received the edit')
    await killHard(first)
    writer.destroy()
    reader.destroy()

    const second = await spawnServer(db, 0, {}, bin)
    children.push(second)
    const api2 = await login(second.url, 'u@b.test', 'password1')
    const stored = await api2.request('GET', `/api/records/deals/${created.body.id}`)
    expect(stored.body.notes).toBe('typed into the compiled server')
  })

  it('is not used when a file of it is missing, or once a source changes: the CLI runs the sources (which need tsx)', () => {
    const writer = join(root, 'build', 'writerThread.mjs')
    renameSync(writer, `${writer}.away`)
    expect(compiledServer(root)).toBeNull()
    renameSync(`${writer}.away`, writer)
    expect(compiledServer(root)).not.toBeNull()
    appendFileSync(join(root, 'server', 'AccordServer.ts'), '\n// edited after the build\n')
    expect(compiledServer(root)).toBeNull()
    const result = runCli(['workspace', 'add', 'c', '--db', db], {}, bin)
    expect(result.status).not.toBe(0)
    expect(result.stderr).toMatch(/tsx/)
  })
})
