/**
 * /metrics, /healthz, /readyz and request ids, against the real server: the counters
 * move when users edit, get reverted, book slots and export.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fieldsOf, notesOf } from '../shared/docLayout.js'
import { type TestServer, login, provider, sample, seedWorkspace, startServer, synced, until } from './helpers/server.js'

describe('observability', () => {
  let t: TestServer
  const scrape = async () => (await fetch(`${t.url}/metrics`)).text()

  beforeEach(async () => {
    t = await startServer()
  })
  afterEach(async () => {
    await t.close()
  })

  it('[OBS1] /metrics exposes every family in Prometheus text format', async () => {
    const res = await fetch(`${t.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/plain/)
    const text = await res.text()
    for (const family of [
      'accord_connections',
      'accord_loaded_documents',
      'accord_updates_in_total',
      'accord_update_bytes_in_total',
      'accord_updates_out_total',
      'accord_update_bytes_out_total',
      'accord_persist_seconds',
      'accord_broadcast_fanout',
      'accord_validation_reverts_total',
      'accord_reservation_decisions_total',
      'accord_export_jobs_total',
      'accord_export_job_retries_total',
      'accord_job_retries_total',
      'accord_event_loop_delay_p99_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'accord_http_requests_total',
      'accord_sockets_dropped_total',
      'accord_http_request_duration_seconds',
    ])
      expect(text, family).toContain(`# TYPE ${family} `)
  })

  it('[OBS2] counters move when a user edits, is reverted, books slots and exports', async () => {
    const users = await seedWorkspace(t.server)
    const api = await login(t.url, users.member.email, users.member.password)
    const before = await scrape()
    const deal = await api.request('POST', '/api/records/deals', { title: 'Metered', amount: 10, currency: 'EUR' })
    expect(deal.status).toBe(201)
    const docName = `acme/deals/${deal.body.id}`
    const writer = provider(t.wsUrl, docName, api.token)
    const reader = provider(t.wsUrl, docName, api.token)
    await Promise.all([synced(writer), synced(reader)])
    expect(sample(await scrape(), 'accord_connections')).toBe(2)
    expect(sample(await scrape(), 'accord_loaded_documents')).toBeGreaterThanOrEqual(1)

    notesOf(writer.doc).insert(0, 'first call went well')
    await until(() => notesOf(reader.doc).toString() === 'first call went well', 'the reader sees the note')
    fieldsOf(writer.doc).set('amount', -5)
    await until(() => fieldsOf(writer.doc).get('amount') === 10, 'the invalid amount is reverted')

    const start = Date.parse('2031-03-03T09:00:00Z')
    const slot = { start: new Date(start).toISOString(), end: new Date(start + 3_600_000).toISOString(), room: 'Atlas', attendees: [] }
    expect((await api.request('POST', '/api/records/events', { title: 'A', ...slot })).status).toBe(201)
    expect((await api.request('POST', '/api/records/events', { title: 'B', ...slot })).status).toBe(201)
    await until(async () => {
      const text = await scrape()
      return (
        sample(text, 'accord_reservation_decisions_total', { outcome: 'confirmed' }) >= 1 &&
        sample(text, 'accord_reservation_decisions_total', { outcome: 'conflict' }) >= 1
      )
    }, 'a confirmed and a conflicting reservation are counted')

    const job = await api.request('POST', '/api/exports', { target: 'csv', collections: ['deals'] })
    expect(job.status).toBe(202)
    await until(
      async () => ['succeeded', 'failed'].includes((await api.request('GET', `/api/exports/${job.body.id}`)).body.status),
      'the export finishes',
    )
    await until(
      async () => sample(await scrape(), 'accord_export_jobs_total', { status: 'succeeded', kind: 'export' }) >= 1,
      'the finished export is counted',
    )

    const after = await scrape()
    expect(sample(after, 'accord_export_jobs_total', { status: 'queued', kind: 'export' })).toBeGreaterThanOrEqual(1)
    expect(sample(after, 'accord_updates_in_total')).toBeGreaterThan(sample(before, 'accord_updates_in_total'))
    expect(sample(after, 'accord_update_bytes_in_total')).toBeGreaterThan(sample(before, 'accord_update_bytes_in_total'))
    expect(sample(after, 'accord_updates_out_total')).toBeGreaterThan(sample(before, 'accord_updates_out_total'))
    expect(sample(after, 'accord_persisted_updates_total')).toBeGreaterThan(sample(before, 'accord_persisted_updates_total'))
    expect(sample(after, 'accord_persist_seconds_count')).toBeGreaterThan(sample(before, 'accord_persist_seconds_count'))
    expect(sample(after, 'accord_broadcast_fanout_count')).toBeGreaterThan(sample(before, 'accord_broadcast_fanout_count'))
    expect(sample(after, 'accord_validation_reverts_total', { reason: 'invalid' })).toBe(1)
    expect(sample(after, 'accord_http_requests_total', { method: 'POST', status: '201' })).toBe(3)
    expect(sample(after, 'accord_http_requests_total', { method: 'POST', status: '202' })).toBe(1)
    writer.destroy()
    reader.destroy()
    await until(async () => sample(await scrape(), 'accord_connections') === 0, 'the connections gauge drops')
  })

  it('[OBS3] health and readiness answer; readiness fails once the server is closing', async () => {
    expect(await (await fetch(`${t.url}/healthz`)).json()).toEqual({ ok: true })
    const ready = await fetch(`${t.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await t.server.isReady()).toBe(true)
    const closing = t.server.close()
    expect(await t.server.isReady()).toBe(false)
    await closing
    t = await startServer()
  })

  it('[OBS4] every response carries a request id; a sane caller id is kept', async () => {
    const own = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'trace-42' } })
    expect(own.headers.get('x-request-id')).toBe('trace-42')
    const fresh = await fetch(`${t.url}/api/me`)
    expect(fresh.status).toBe(401)
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const hostile = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'not "a" token' } })
    expect(hostile.headers.get('x-request-id')).not.toContain('"')
  })

  it('[OBS5] request durations are labelled by route template; an unmatched path gets one fixed label', async () => {
    const users = await seedWorkspace(t.server)
    const api = await login(t.url, users.member.email, users.member.password)
    const deal = await api.request('POST', '/api/records/deals', { title: 'Timed', amount: 1, currency: 'EUR' })
    expect((await api.request('GET', `/api/records/deals/${deal.body.id}`)).status).toBe(200)
    expect((await api.request('GET', '/api/records/deals/nope')).status).toBe(404)
    for (const path of ['/api/no-such-thing-1', '/api/no-such-thing-2', '/some/static/path.js']) await fetch(`${t.url}${path}`)
    const text = await scrape()
    const count = (labels: Record<string, string>) => sample(text, 'accord_http_request_duration_seconds_count', labels)
    expect(count({ method: 'GET', route: '/api/records/:collection/:id', status: '200' })).toBe(1)
    // An error thrown inside a sub-router is still attributed to its route.
    expect(count({ method: 'GET', route: '/api/records/:collection/:id', status: '404' })).toBe(1)
    expect(count({ method: 'POST', route: '/api/records/:collection', status: '201' })).toBe(1)
    expect(count({ method: 'GET', route: '(unmatched)', status: '401' })).toBe(2)
    expect(text).not.toContain('no-such-thing')
    expect(text).not.toContain('path.js')
  })

  it('[OBS6] a stall of the event loop shows in the delay gauge, and reading the gauge resets nothing (two readers, one figure)', async () => {
    // The monitor's timer has ticked a few times: a server that has been up a moment.
    await new Promise((resolve) => setTimeout(resolve, 100))
    const blockedUntil = Date.now() + 250
    while (Date.now() < blockedUntil) {
      // A synchronous stall, as a slow handler would make.
    }
    await new Promise((resolve) => setTimeout(resolve, 30))
    const first = sample(await scrape(), 'accord_event_loop_delay_p99_seconds')
    const second = sample(await scrape(), 'accord_event_loop_delay_p99_seconds')
    expect(first).toBeGreaterThan(0.2)
    expect(second).toBeGreaterThan(0.2)
  })
})
