/** The benchmark's one table: figures per server and Accord's ratio to each peer. */
import type { BareCommit } from './bareCommit.js'
import type { ServerKind } from './client.js'

export interface Results {
  startedAt: string
  finishedAt?: string
  mode: 'full' | 'quick'
  scale: Record<string, unknown>
  p99TargetMs: number
  machine: Record<string, unknown>
  servers: Partial<Record<ServerKind, string>>
  workloads: Record<string, Partial<Record<ServerKind, any>>>
  /** The disk's floor: bare SQLite commits of one small row, timed in the same run (see bareCommit.ts). */
  bareCommit?: BareCommit
  /** The same commits at the fan-out writer's pace (`pacedBareCommits`): the floor at that rate. */
  pacedBareCommit?: BareCommit
}

interface Row {
  workload: string
  metric: string
  better: 'lower' | 'higher'
  unit: string
  value(r: any, results: Results): number | null
}

const ROWS: Row[] = [
  {
    workload: 'fan-out (1 writer, 100 readers)',
    metric: 'update → all readers p50',
    better: 'lower',
    unit: 'ms',
    value: (r) => r?.toAllP50 ?? null,
  },
  {
    workload: 'fan-out (1 writer, 100 readers)',
    metric: 'update → all readers p99',
    better: 'lower',
    unit: 'ms',
    value: (r) => r?.toAllP99 ?? null,
  },
  {
    workload: 'fan-out (1 writer, 100 readers)',
    metric: 'update → first reader p50',
    better: 'lower',
    unit: 'ms',
    value: (r) => r?.toFirstP50 ?? null,
  },
  {
    workload: 'many rooms (docs × 5 editors)',
    metric: 'sustained updates/s with p99 < 50 ms',
    better: 'higher',
    unit: '/s',
    value: (r, res) => sustained(r, res)?.updatesPerS ?? null,
  },
  {
    workload: 'many rooms (docs × 5 editors)',
    metric: 'p99 latency at the lowest rate',
    better: 'lower',
    unit: 'ms',
    value: (r) => (Array.isArray(r) ? (r[0]?.p99 ?? null) : null),
  },
  {
    workload: 'many rooms (docs × 5 editors)',
    metric: 'server event-loop p99 at the lowest rate',
    better: 'lower',
    unit: 'ms',
    value: (r) => (Array.isArray(r) ? (r[0]?.loopP99Ms ?? null) : null),
  },
  {
    workload: 'many rooms (docs × 5 editors)',
    metric: 'p99 latency at the highest rate',
    better: 'lower',
    unit: 'ms',
    value: (r) => (Array.isArray(r) ? (r.at(-1)?.p99 ?? null) : null),
  },
  {
    workload: 'many rooms (docs × 5 editors)',
    metric: 'server CPU per update at the highest rate (all threads)',
    better: 'lower',
    unit: 'ms',
    value: (r) => (Array.isArray(r) ? (r.at(-1)?.cpuPerUpdateMs ?? null) : null),
  },
  {
    workload: 'idle connections',
    metric: 'memory per connection (RSS)',
    better: 'lower',
    unit: 'KB',
    value: (r) => r?.perConnectionKb ?? null,
  },
  {
    workload: 'idle connections',
    metric: 'memory per loaded document (RSS)',
    better: 'lower',
    unit: 'KB',
    value: (r) => r?.perDocumentKb ?? null,
  },
  {
    workload: 'idle connections',
    metric: 'memory before any connection (RSS)',
    better: 'lower',
    unit: 'MB',
    value: (r) => (r?.baseRss == null ? null : r.baseRss / 1024 / 1024),
  },
  {
    workload: 'idle connections',
    metric: 'CPU with every socket open and quiet (of one core)',
    better: 'lower',
    unit: '%',
    value: (r) => r?.idleCpuPercent ?? null,
  },
  {
    workload: 'cold load (logged updates)',
    metric: 'time to load the whole document after a restart',
    better: 'lower',
    unit: 'ms',
    value: (r) => (r?.complete === false ? null : (r?.loadMs ?? null)),
  },
  {
    workload: 'durability (SIGKILL)',
    metric: 'broadcast updates that survive',
    better: 'higher',
    unit: '%',
    value: (r) => (r?.fraction == null ? null : r.fraction * 100),
  },
]

/**
 * The highest step reached without a miss: each step up to it met the p99 target with (almost)
 * every update delivered. A step that passes after one that failed (a lucky moment of a
 * server already behind) does not count.
 */
function sustained(steps: unknown, results: Results): { updatesPerS: number; loopP99Ms: number } | null {
  if (!Array.isArray(steps)) return null
  const firstMiss = steps.findIndex((s) => !(s.p99 < results.p99TargetMs && s.delivered >= 0.99))
  return (firstMiss < 0 ? steps : steps.slice(0, firstMiss)).at(-1) ?? null
}

const fmt = (v: number | null, unit: string) =>
  v === null || !Number.isFinite(v) ? 'n/a' : `${v >= 100 ? Math.round(v) : v.toFixed(v >= 10 ? 1 : 2)}${unit === '%' ? ' %' : ` ${unit}`}`

/** Ratio > 1: `accord` (the first figure) is better by that factor; < 1: worse. */
function ratio(accord: number | null, other: number | null, better: Row['better']): string {
  if (accord === null || other === null) return 'n/a'
  if (accord === other) return '1.00×'
  if (better === 'lower') return accord <= 0 ? '∞' : `${(other / accord).toFixed(2)}×`
  return other <= 0 ? (accord > 0 ? '∞' : 'n/a') : `${(accord / other).toFixed(2)}×`
}

/** What a goal is computed from: Accord on SQLite's figure of a row, the best peer's, and the bare commit. */
interface GoalInputs {
  accord(row: Row): number | null
  best(row: Row): number | null
  bareMs: number | null
  /** Each server's many-rooms steps (the servers compared: Accord on SQLite and the peers run). */
  steps: Partial<Record<ServerKind, readonly RoomsStep[]>>
}

/** One many-rooms step as the run records it. */
interface RoomsStep {
  updatesPerS: number
  delivered: number
  cpuPerUpdateMs: number
}

/** One of the durable path's goals: Accord on SQLite against the best peer, in the same run. */
interface Goal {
  name: string
  /** The figure, or null when a server or the bare commit is missing. */
  value(g: GoalInputs): number | null
  /** The figure must be at most (`≤`) or at least (`≥`) `limit`. */
  bound: '≤' | '≥'
  limit: number
  unit: string
}

const rowOf = (metric: string) => ROWS.find((r) => r.metric === metric)!
const both = (a: number | null, b: number | null, f: (a: number, b: number) => number) => (a === null || b === null ? null : f(a, b))
/** Accord's figure over the best peer's. */
const overBest = (metric: string) => (g: GoalInputs) => both(g.accord(rowOf(metric)), g.best(rowOf(metric)), (a, b) => a / b)
/** How much longer Accord's figure is than the best peer's, in bare commits. */
const inCommits = (metric: string) => (g: GoalInputs) =>
  both(
    both(g.accord(rowOf(metric)), g.best(rowOf(metric)), (a, b) => a - b),
    g.bareMs,
    (d, c) => d / c,
  )
const goal = (name: string, value: Goal['value'], bound: Goal['bound'], limit: number, unit = '×'): Goal => ({
  name,
  value,
  bound,
  limit,
  unit,
})

/**
 * CPU per update at the highest many-rooms rate at which Accord and every peer delivered
 * ≥ 99 % (one that fell behind did less work than it was sent), Accord's over the best peer's.
 */
function cpuAtTopCommonRate(g: GoalInputs): number | null {
  const servers = Object.values(g.steps)
  if (servers.length < 2) return null
  const delivered = (steps: readonly RoomsStep[]) => new Set(steps.filter((s) => s.delivered >= 0.99).map((s) => s.updatesPerS))
  const [first, ...rest] = servers.map(delivered)
  const common = [...first!].filter((rate) => rest.every((rates) => rates.has(rate)))
  if (common.length === 0) return null
  const rate = Math.max(...common)
  const cpu = (steps: readonly RoomsStep[] | undefined) => steps?.find((s) => s.updatesPerS === rate)?.cpuPerUpdateMs ?? null
  const peers = Object.entries(g.steps)
    .filter(([kind]) => kind !== 'accord')
    .map(([, steps]) => cpu(steps))
    .filter((v): v is number => v !== null)
  return both(cpu(g.steps.accord), peers.length > 0 ? Math.min(...peers) : null, (a, b) => a / b)
}

const FAN_OUT_P50 = goal('fan-out p50: Accord − best peer, in bare commits', inCommits('update → all readers p50'), '≤', 1.5)

const GOALS: Goal[] = [
  FAN_OUT_P50,
  goal('fan-out p99: Accord / best peer', overBest('update → all readers p99'), '≤', 1.25),
  goal('many rooms, sustained rate: Accord / best peer', overBest('sustained updates/s with p99 < 50 ms'), '≥', 1.5),
  goal('many rooms, p99 at the lowest rate: Accord − best peer, in bare commits', inCommits('p99 latency at the lowest rate'), '≤', 1),
  goal('CPU per update at the highest rate all delivered: Accord / best peer', cpuAtTopCommonRate, '≤', 0.7),
  goal('durability: broadcast updates that survive a SIGKILL', (g) => g.accord(rowOf('broadcast updates that survive')), '≥', 100, ' %'),
]

/**
 * The floor of the fan-out p50 goal: a server that commits each update before it sends it pays
 * one commit at the writer's pace, here counted in bare commits made back to back.
 */
function floor(pacedMs: number, bareMs: number | null): string {
  if (bareMs === null || bareMs <= 0) return ''
  return ` That one commit, the least a server that commits before it sends adds to each update at this pace, is ${(pacedMs / bareMs).toFixed(2)} back-to-back bare commits: the floor of the fan-out p50 goal on this disk (target ${FAN_OUT_P50.bound} ${FAN_OUT_P50.limit}).`
}

/** The goals of the durable path (Accord on SQLite against the best of the peers run), when both ran. */
function renderGoals(results: Results, peers: ServerKind[]): string[] {
  const figure = (row: Row, k: ServerKind): number | null => {
    const r = results.workloads[workloadKey(row)]?.[k]
    return r?.error ? null : row.value(r, results)
  }
  const inputs: GoalInputs = {
    accord: (row) => figure(row, 'accord'),
    best: (row) => {
      const values = peers.map((k) => figure(row, k)).filter((v): v is number => v !== null && Number.isFinite(v))
      if (values.length === 0) return null
      return row.better === 'lower' ? Math.min(...values) : Math.max(...values)
    },
    bareMs: results.bareCommit?.medianMs ?? null,
    steps: Object.fromEntries(
      (['accord', ...peers] as ServerKind[]).flatMap((k) => {
        const steps = results.workloads.rooms?.[k]
        return Array.isArray(steps) ? [[k, steps as RoomsStep[]]] : []
      }),
    ),
  }
  const bare = results.bareCommit
  const lines = [
    bare?.medianMs != null
      ? `Bare SQLite commit of one small row on the same disk (WAL, synchronous=FULL, BEGIN IMMEDIATE/INSERT/COMMIT; ${bare.samples} commits across the run): median ${fmt(bare.medianMs, 'ms')}, p99 ${fmt(bare.p99Ms, 'ms')}.`
      : 'Bare SQLite commit: not measured in this run (it is timed before the fan-out and many-rooms workloads).',
    '',
    '| goal (Accord on SQLite against the best peer) | figure | target | met |',
    '|---|---|---|---|',
  ]
  const row = ({ name, value, bound, limit, unit }: Goal, from: GoalInputs) => {
    const v = value(from)
    const known = v !== null && Number.isFinite(v)
    const met = known && (bound === '≤' ? v <= limit : v >= limit)
    return `| ${name} | ${known ? `${v.toFixed(2)}${unit}` : 'n/a'} | ${bound} ${limit}${unit} | ${known ? (met ? 'yes' : 'no') : '–'} |`
  }
  for (const g of GOALS) lines.push(row(g, inputs))
  const paced = results.pacedBareCommit
  if (paced?.medianMs == null) return [...lines, '']
  // The goals in bare commits, read again against a commit at the writer's pace: the floor of
  // a server that commits each update as it comes, on this disk.
  const atPace: GoalInputs = { ...inputs, bareMs: paced.medianMs }
  return [
    ...lines,
    '',
    `Bare commit at the fan-out writer's pace (one every ${fmt(paced.intervalMs ?? null, 'ms')}, ${paced.samples} commits): median ${fmt(paced.medianMs, 'ms')}, p99 ${fmt(paced.p99Ms, 'ms')}.${floor(paced.medianMs, inputs.bareMs)} The goals counted in bare commits, against that one:`,
    '',
    "| goal, against the bare commit at the writer's pace | figure | target | met |",
    '|---|---|---|---|',
    ...GOALS.filter((g) => g.name.endsWith('in bare commits')).map((g) => row(g, atPace)),
    '',
  ]
}

export function renderMarkdown(results: Results): string {
  const kinds = Object.keys(results.servers) as ServerKind[]
  const peers = kinds.filter((k) => k === 'hocuspocus' || k === 'ywebsocket')
  // Accord on PostgreSQL is compared with Accord on SQLite: what the backend costs.
  const backends = kinds.includes('accord') && kinds.includes('accordPostgres')
  const head = [
    'workload',
    'metric',
    ...kinds.map((k) => results.servers[k]!),
    ...peers.map((k) => `Accord (SQLite) vs ${results.servers[k]!.split(' ')[0]}`),
    ...(backends ? ['Accord on PostgreSQL vs on SQLite'] : []),
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const row of ROWS) {
    const values = Object.fromEntries(kinds.map((k) => [k, row.value(results.workloads[workloadKey(row)]?.[k], results)])) as Record<
      ServerKind,
      number | null
    >
    const errors = kinds.map((k) => results.workloads[workloadKey(row)]?.[k]?.error)
    const cells = kinds.map((k, i) => (errors[i] ? 'failed' : fmt(values[k], row.unit)))
    const ratios = peers.map((k) => (kinds.includes('accord') ? ratio(values.accord, values[k], row.better) : 'n/a'))
    if (backends) ratios.push(ratio(values.accordPostgres, values.accord, row.better))
    lines.push(`| ${[row.workload, `${row.metric} (${row.better} is better)`, ...cells, ...ratios].join(' | ')} |`)
  }
  const m = results.machine
  return [
    `Benchmark (${results.mode} scale), ${results.startedAt} → ${results.finishedAt ?? '…'}`,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, ${m.platform}, Node ${m.node}${m.postgres ? `, ${m.postgres} on loopback` : ''}; load average at start ${JSON.stringify(m.loadAverageAtStart)}, at end ${JSON.stringify(m.loadAverageAtEnd)}`,
    '',
    ...lines,
    '',
    ...(peers.length && kinds.includes('accord')
      ? ['Ratios: how many times better Accord on SQLite is than the peer on that row (> 1 = Accord ahead, < 1 = behind).', '']
      : []),
    ...(peers.length && kinds.includes('accord') ? renderGoals(results, peers) : []),
    ...(backends
      ? ['PostgreSQL vs SQLite: Accord on PostgreSQL against Accord on SQLite (> 1 = PostgreSQL ahead, < 1 = behind).', '']
      : []),
  ].join('\n')
}

function workloadKey(row: Row): string {
  if (row.workload.startsWith('fan-out')) return 'fanout'
  if (row.workload.startsWith('many rooms')) return 'rooms'
  if (row.workload.startsWith('idle')) return 'idle'
  if (row.workload.startsWith('cold')) return 'cold'
  return 'durability'
}
