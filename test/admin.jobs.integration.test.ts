/**
 * The admin console's job queue (`/api/admin/jobs`) against the real server, on both
 * backends: owners and admins list the workspace's jobs, retry a failed one, cancel a queued
 * or running one (a job held by another process loses it: its finish is refused) and run a
 * finished one again; a member gets 403, a job in the wrong state 409, both in the contract's
 * error format.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeBackends } from './helpers/backends.js'
import { FINISHED } from './helpers/jobs.js'
import { type Api, type SeededUsers, type TestServer, startSeeded, until } from './helpers/server.js'

describeBackends('admin job queue API', (backend) => {
  let t: TestServer
  let users: SeededUsers
  let owner: Api
  let member: Api

  beforeAll(async () => {
    // The runner reacts to kicks only: jobs put in the queue directly stay where the test puts them.
    ;({
      t,
      users,
      api: { owner, member },
    } = await startSeeded(['owner', 'member'], { ...backend.options(), jobs: { pollMs: 600_000 } }, 'jq'))
  })
  afterAll(() => t.close())

  const csvExport = (userId: string) => ({
    workspace: 'jq',
    userId,
    kind: 'export' as const,
    target: 'csv',
    params: { collections: ['deals'] },
    counts: { exported: 0, added: 0, updated: 0, deleted: 0 },
    coalesceKey: null,
  })
  const action = (id: string, what: string) => owner.request('POST', `/api/admin/jobs/${id}/${what}`)
  const statusOf = async (id: string) => (await t.server.jobs.queue.get(id))?.status

  it('lists, cancels a queued and a running job, retries a failed one, runs a finished one again', async () => {
    const queue = t.server.jobs.queue
    const held = (await queue.enqueue(csvExport(users.member.id))).job
    const waiting = (await queue.enqueue(csvExport(users.member.id))).job
    // Another process holds the first job.
    expect(await queue.claim('elsewhere', 1, 60_000)).toMatchObject([{ id: held.id }])

    const listed = await owner.request('GET', '/api/admin/jobs')
    expect(listed.status).toBe(200)
    const byId = new Map(listed.body.items.map((job: { id: string }) => [job.id, job]))
    expect(byId.get(held.id)).toMatchObject({ status: 'running', userId: users.member.id, target: 'csv' })
    expect(byId.get(waiting.id)).toMatchObject({ status: 'queued', position: 1, userId: users.member.id })

    const cancelled = await action(waiting.id, 'cancel')
    expect(cancelled.status).toBe(200)
    expect(cancelled.body).toMatchObject({ status: 'failed', error: 'cancelled by owner of jq' })
    const again = await action(waiting.id, 'cancel')
    expect(again.status).toBe(409)
    expect(again.body.error).toMatchObject({ code: 'conflict', message: 'only a queued or running job can be cancelled' })

    expect((await action(held.id, 'cancel')).body.status).toBe('failed')
    expect(await queue.finish(held.id, 'elsewhere', { status: 'succeeded', counts: {} })).toBe(false)
    expect(await queue.renew('elsewhere', [held.id], 60_000)).toEqual([])

    // Retried, the job runs here and succeeds.
    const retried = await action(waiting.id, 'retry')
    expect(retried.status).toBe(200)
    expect(retried.body.status).toBe('queued')
    await until(async () => FINISHED.has((await statusOf(waiting.id)) ?? ''), 'the retried job finishes')
    expect(await statusOf(waiting.id)).toBe('succeeded')
    expect((await action(waiting.id, 'retry')).status).toBe(409)

    const rerun = await action(waiting.id, 'rerun')
    expect(rerun.status).toBe(201)
    expect(rerun.body.id).not.toBe(waiting.id)
    expect(rerun.body).toMatchObject({ kind: 'export', target: 'csv', collections: ['deals'] })
    await until(async () => (await statusOf(rerun.body.id)) === 'succeeded', 'the new job succeeds')
    expect((await queue.get(rerun.body.id))?.userId).toBe(users.member.id)
    expect((await action(held.id, 'rerun')).status).toBe(201)
  })

  it('is for owners and admins only; an unknown job or action is 404', async () => {
    const queue = t.server.jobs.queue
    // The runner idle first (the last test's jobs kick it when they end); then another process holds the job.
    await until(async () => (await queue.queued(1)).length === 0 && t.server.jobs.runner.stats().running === 0, 'the runner is idle')
    const job = (await queue.enqueue(csvExport(users.member.id))).job
    expect(await queue.claim('elsewhere', 1, 60_000)).toMatchObject([{ id: job.id }])
    for (const res of [await member.request('GET', '/api/admin/jobs'), await member.request('POST', `/api/admin/jobs/${job.id}/cancel`)]) {
      expect(res.status).toBe(403)
      expect(res.body.error.code).toBe('forbidden')
    }
    expect(await statusOf(job.id)).toBe('running')
    expect((await action('no-such-job', 'cancel')).body.error.code).toBe('not-found')
    expect((await action(job.id, 'explode')).status).toBe(404)
    expect((await action(job.id, 'cancel')).status).toBe(200)
  })
})
