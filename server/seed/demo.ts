/** The demo workspace of the contract: four users and a few records of every collection. */
import type { AccordServer } from '../AccordServer.js'

export const DEMO_WORKSPACE = 'demo'
export const DEMO_PASSWORD = 'accord-demo'
export const DEMO_USERS = [
  { email: 'alice@demo.test', name: 'Alice Archer', role: 'owner' },
  { email: 'bob@demo.test', name: 'Bob Baker', role: 'member' },
  { email: 'carol@demo.test', name: 'Carol Chen', role: 'member' },
  { email: 'vera@demo.test', name: 'Vera Viewer', role: 'viewer' },
] as const

/** Seeds the demo workspace. Throws if it exists already. */
export async function seedDemo(server: AccordServer): Promise<void> {
  await server.auth.addWorkspace(DEMO_WORKSPACE, 'Demo Company')
  const users = []
  for (const u of DEMO_USERS) users.push(await server.auth.addUser({ workspace: DEMO_WORKSPACE, password: DEMO_PASSWORD, ...u }))
  const [alice, bob, carol] = users as [(typeof users)[number], (typeof users)[number], (typeof users)[number]]
  const create = (collection: Parameters<typeof server.records.create>[1], input: Record<string, unknown>, by = alice.id) =>
    server.records.create(DEMO_WORKSPACE, collection, input, by)

  const acme = await create('customers', {
    name: 'Acme Corp',
    email: 'buyer@acme.test',
    phone: '+1 555 0100',
    company: 'Acme',
    tags: ['enterprise'],
    ownerId: alice.id,
    notes: 'Key account. Renewal in Q3.',
  })
  const globex = await create('customers', {
    name: 'Globex',
    email: 'hello@globex.test',
    company: 'Globex',
    tags: ['smb'],
    ownerId: bob.id,
  })
  await create('customers', { name: 'Initech', email: 'it@initech.test', company: 'Initech', tags: [], ownerId: carol.id })
  await create('leads', { name: 'Hooli', email: 'bd@hooli.test', company: 'Hooli', source: 'website', status: 'new', ownerId: bob.id })
  await create('leads', {
    name: 'Umbrella',
    email: 'sales@umbrella.test',
    company: 'Umbrella',
    source: 'referral',
    status: 'contacted',
    ownerId: carol.id,
  })
  const stages = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'] as const
  const deals = []
  for (const [i, stage] of stages.entries()) {
    deals.push(
      await create('deals', {
        title: `${i % 2 ? 'Globex' : 'Acme'} ${['pilot', 'expansion', 'renewal', 'support plan', 'training', 'hardware'][i]}`,
        customerId: i % 2 ? globex.id : acme.id,
        stage,
        amount: 5000 * (i + 1),
        currency: 'EUR',
        closeDate: `2026-${String(12 - (i % 3)).padStart(2, '0')}-15`,
        ownerId: users[i % 3]!.id,
      }),
    )
  }
  await create('proposals', {
    title: 'Acme renewal proposal',
    dealId: deals[2]!.id,
    status: 'draft',
    validUntil: '2026-12-31',
    items: [
      { description: 'Licences', quantity: 50, unitPrice: 120 },
      { description: 'Onboarding', quantity: 1, unitPrice: 2500 },
    ],
  })
  await create('invoices', {
    customerId: acme.id,
    dealId: deals[4]!.id,
    status: 'draft',
    dueDate: '2026-12-20',
    items: [{ description: 'Training day', quantity: 2, unitPrice: 1800 }],
  })
  const monday = startOfWeekUtc(new Date())
  const at = (day: number, hour: number) => new Date(monday + day * 86_400_000 + hour * 3_600_000).toISOString()
  await create('events', {
    title: 'Acme kickoff',
    start: at(1, 9),
    end: at(1, 10),
    attendees: [alice.id, bob.id],
    room: 'Atlas',
    customerId: acme.id,
    status: 'scheduled',
  })
  await create('events', {
    title: 'Globex demo',
    start: at(2, 14),
    end: at(2, 15),
    attendees: [carol.id],
    room: 'Borealis',
    customerId: globex.id,
    status: 'scheduled',
  })
}

function startOfWeekUtc(now: Date): number {
  const day = (now.getUTCDay() + 6) % 7
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - day)
}

/** A database without any workspace is new: the demo may seed it. */
export async function isEmptyDatabase(server: AccordServer): Promise<boolean> {
  return !(await server.auth.hasAnyWorkspace())
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}
