/**
 * CSV import as a job: rows validated against the schema, invalid rows reported by line,
 * duplicates skipped or merged, and importing the same file twice adds nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Api, type TestServer, login, startSeeded, startServer } from './helpers/server.js'
import { describeBackends } from './helpers/backends.js'
import { finished, uploadCsv } from './helpers/jobs.js'

/** 1,000 data rows: 10 invalid (at known lines), 5 repeating an earlier row's e-mail. */
function bigCsv(): { csv: string; invalidLines: number[] } {
  const lines = ['name,email,phone,company,tags']
  const invalidLines: number[] = []
  for (let i = 0; i < 1000; i++) {
    const line = lines.length + 1
    if (i % 100 === 7) {
      invalidLines.push(line)
      lines.push(i % 200 === 7 ? `Bad ${i},not-an-email,,Acme,` : `,nameless${i}@example.test,,Acme,`)
    } else if (i % 200 === 50) {
      lines.push(`Again ${i},PERSON${i - 40}@EXAMPLE.TEST,,Dup Inc,`)
    } else {
      lines.push(`Person ${i},person${i}@example.test,+1 555 ${i},"Acme, Inc.","vip, east"`)
    }
  }
  return { csv: `${lines.join('\n')}\n`, invalidLines }
}

describeBackends('CSV import', (backend) => {
  let t: TestServer
  let member: Api
  let viewer: Api

  beforeAll(async () => {
    ;({
      t,
      api: { member, viewer },
      // On PostgreSQL one job at a time, so that IM6's two imports run in two servers.
    } = await startSeeded(['member', 'viewer'], {
      backend: backend.kind,
      jobs: { pollMs: 100, concurrency: backend.kind === 'postgres' ? 1 : undefined },
    }))
  })
  afterAll(() => t.close())

  async function countOf(collection: string): Promise<number> {
    let n = 0
    let cursor: string | null = null
    do {
      const page: any = (await member.request('GET', `/api/records/${collection}?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).body
      n += page.items.length
      cursor = page.nextCursor
    } while (cursor)
    return n
  }

  it('[IM1] 1,000 rows with 10 invalid and 5 duplicates give 985 records; every invalid line is reported; re-importing adds nothing', async () => {
    const { csv, invalidLines } = bigCsv()
    const res = await uploadCsv(t.url, member, 'customers', csv)
    expect(res.status).toBe(202)
    expect(res.body).toMatchObject({ kind: 'import', collection: 'customers' })
    // A runner polling meanwhile may have claimed it already.
    expect(['queued', 'running']).toContain(res.body.status)
    const job = await finished(member, `/api/imports/${res.body.id}`, 60_000)
    expect(job.status).toBe('succeeded')
    expect(job.counts).toMatchObject({ imported: 985, skipped: 5, invalid: 10 })
    expect(job.errors.map((e: any) => e.line)).toEqual(invalidLines)
    expect(job.errors[0].message).toMatch(/email/)
    expect(job.errors[1].message).toMatch(/name/)
    expect(await countOf('customers')).toBe(985)
    const one = (await member.request('GET', '/api/records/customers?q=person12@example.test')).body.items[0]
    expect(one).toMatchObject({ name: 'Person 12', company: 'Acme, Inc.', tags: ['vip', 'east'], phone: '+1 555 12' })

    const again = await uploadCsv(t.url, member, 'customers', csv)
    const second = await finished(member, `/api/imports/${again.body.id}`, 60_000)
    expect(second.counts).toMatchObject({ imported: 0, skipped: 990, invalid: 10 })
    expect(await countOf('customers')).toBe(985)
  })

  it('[IM2] duplicates can be merged into the existing record instead', async () => {
    const csv = 'name,email,phone\nPerson 1,person1@example.test,+49 30 1234\nBrand New,brand.new@example.test,\n'
    const res = await uploadCsv(t.url, member, 'customers', csv, 'merge')
    const job = await finished(member, `/api/imports/${res.body.id}`)
    expect(job.counts).toMatchObject({ imported: 1, merged: 1, skipped: 0, invalid: 0 })
    const merged = (await member.request('GET', '/api/records/customers?q=person1@example.test')).body.items[0]
    expect(merged).toMatchObject({ name: 'Person 1', phone: '+49 30 1234', company: 'Acme, Inc.' })
  })

  it('[IM3] collections without e-mail are deduplicated by content; numbers and enums are checked', async () => {
    const csv = 'title,amount,stage,currency\nDeal A,100,won,EUR\nDeal B,abc,won,EUR\nDeal C,5,flying,EUR\n"Deal, D",7.5,lead,USD\n'
    const first = await finished(member, `/api/imports/${(await uploadCsv(t.url, member, 'deals', csv)).body.id}`)
    expect(first.counts).toMatchObject({ imported: 2, invalid: 2, skipped: 0 })
    expect(first.errors).toEqual([
      { line: 3, message: expect.stringMatching(/amount.*not a number/) },
      { line: 4, message: expect.stringMatching(/stage/) },
    ])
    const second = await finished(member, `/api/imports/${(await uploadCsv(t.url, member, 'deals', csv)).body.id}`)
    expect(second.counts).toMatchObject({ imported: 0, skipped: 2, invalid: 2 })
    expect(await countOf('deals')).toBe(2)
  })

  it('[IM5] line numbers count the lines of multi-line cells and blank lines', async () => {
    const csv = 'name,notes\n"Multi Line","first\nsecond\nthird"\n\n,"no name"\nFine,ok\n'
    const job = await finished(member, `/api/imports/${(await uploadCsv(t.url, member, 'leads', csv)).body.id}`)
    expect(job.counts).toMatchObject({ imported: 2, invalid: 1 })
    expect(job.errors).toEqual([{ line: 6, message: expect.stringMatching(/name/) }])
    const lead = (await member.request('GET', '/api/records/leads?q=Multi')).body.items[0]
    expect(lead.notes).toBe('first\nsecond\nthird')
  })

  it("[IM7] a malformed line (a stray quote) is that line's error and the rest is imported, line numbers still right", async () => {
    const csv =
      'name,email\nGood One,good.one@example.test\nBad "Quote,bad.quote@example.test\n\nGood Two,good.two@example.test\nNo Mail,not-an-email\nLast,"last@example.test\n'
    const job = await finished(member, `/api/imports/${(await uploadCsv(t.url, member, 'leads', csv)).body.id}`)
    expect(job.status).toBe('succeeded')
    expect(job.counts).toMatchObject({ imported: 2, invalid: 3 })
    expect(job.errors).toEqual([
      { line: 3, message: expect.stringMatching(/^not valid CSV: .*quote/i) },
      { line: 6, message: expect.stringMatching(/email/) },
      { line: 7, message: expect.stringMatching(/^not valid CSV: .*quote/i) },
    ])
    expect((await member.request('GET', '/api/records/leads?q=good.two@example.test')).body.items).toHaveLength(1)
  })

  it('[IM8] a column mapping renames the file\'s columns and ignores the ones mapped to ""; a mapping of the wrong width fails the job', async () => {
    const csv = 'Full Name,E-Mail Address,Shoe Size\nMapped Person,mapped.person@example.test,44\n'
    const job = await finished(
      member,
      `/api/imports/${(await uploadCsv(t.url, member, 'leads', csv, 'skip', ['name', 'email', ''])).body.id}`,
    )
    expect(job.counts).toMatchObject({ imported: 1, invalid: 0 })
    expect(job.errors).toEqual([])
    expect((await member.request('GET', '/api/records/leads?q=mapped.person@example.test')).body.items[0]).toMatchObject({
      name: 'Mapped Person',
    })
    const narrow = await finished(member, `/api/imports/${(await uploadCsv(t.url, member, 'leads', csv, 'skip', ['name'])).body.id}`)
    expect(narrow.status).toBe('failed')
    expect(narrow.error).toMatch(/mapping names 1 columns; the file has 3/)
    expect((await uploadCsv(t.url, member, 'leads', csv, 'skip', 'oops' as never)).status).toBe(400)
  })

  it('[IM4] viewers cannot import; a missing file or collection is a 400; others cannot read the job', async () => {
    expect((await uploadCsv(t.url, viewer, 'customers', 'name\nX\n')).status).toBe(403)
    const noFile = await fetch(`${t.url}/api/imports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${member.token}` },
      body: new FormData(),
    })
    expect(noFile.status).toBe(400)
    expect(((await noFile.json()) as any).error.code).toBe('invalid')
    const bad = await uploadCsv(t.url, member, 'spaceships', 'name\nX\n')
    expect(bad.status).toBe(400)
    const res = await uploadCsv(t.url, member, 'customers', 'name\nSolo\n')
    await finished(member, `/api/imports/${res.body.id}`)
    expect((await viewer.request('GET', `/api/imports/${res.body.id}`)).status).toBe(404)
  })

  it('[IM6] two imports of one file at once, by two users (on PostgreSQL in two servers on one database), create each record once', async () => {
    const rows = 300
    const csv = `name,email\n${Array.from({ length: rows }, (_, i) => `Both ${i},both${i}@example.test`).join('\n')}\n`
    // On PostgreSQL the second importer is another server on the same database, as another process would be.
    const second =
      backend.kind === 'postgres' ? await startServer({ databaseUrl: t.databaseUrl!, jobs: { pollMs: 20, concurrency: 1 } }) : t
    try {
      if (!(await second.server.auth.hasWorkspace('acme'))) await second.server.auth.addWorkspace('acme')
      await second.server.auth.addUser({
        workspace: 'acme',
        email: 'importer@acme.test',
        password: 'correct horse',
        role: 'member',
        name: 'Importer',
      })
      const importer = await login(second.url, 'importer@acme.test', 'correct horse')
      const before = await countOf('leads')
      const [a, b] = await Promise.all([uploadCsv(t.url, member, 'leads', csv), uploadCsv(second.url, importer, 'leads', csv)])
      const jobs = [
        await finished(member, `/api/imports/${a.body.id}`, 60_000),
        await finished(importer, `/api/imports/${b.body.id}`, 60_000),
      ]
      expect(jobs.map((job) => job.status)).toEqual(['succeeded', 'succeeded'])
      const [x, y] = jobs.map((job) => ({ start: Date.parse(job.startedAt), end: Date.parse(job.finishedAt) }))
      expect(x!.start < y!.end && y!.start < x!.end, 'the two imports ran at the same time').toBe(true)
      expect(jobs[0].counts.imported + jobs[1].counts.imported).toBe(rows)
      expect(jobs[0].counts.skipped + jobs[1].counts.skipped).toBe(rows)
      expect(await countOf('leads')).toBe(before + rows)
    } finally {
      if (second !== t) await second.close()
    }
  })
})
