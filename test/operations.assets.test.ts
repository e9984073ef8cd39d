/**
 * The operators' files in docs/operations/: the Prometheus alert rules parse (with `promtool`
 * when it is installed) and have the fields Prometheus requires, and every metric the rules
 * and the Grafana dashboard query is one a real server's /metrics exposes — a lone server,
 * and a cluster member for the lease gauge (skipped without PostgreSQL and Redis).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SHORT, clusterServers } from './helpers/clusterServers.js'
import { skipPg } from './helpers/pg.js'
import { skipRedis } from './helpers/redis.js'
import { login, startServer } from './helpers/server.js'

const RULES_FILE = 'docs/operations/alerts.yml'
const DASHBOARD_FILE = 'docs/operations/grafana-dashboard.json'
/** Only a cluster member exposes these. */
const CLUSTER_ONLY = ['accord_cluster_lease_live']

interface Rule {
  alert: string
  expr: string
  for: string
  labels: Record<string, string>
  annotations: Record<string, string>
}

/** The rules file is JSON with `#` comment lines above it: valid YAML, parsed without a YAML library. */
function rules(): Rule[] {
  const text = readFileSync(RULES_FILE, 'utf8')
  const json = text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n')
  const doc = JSON.parse(json) as { groups: { name: string; rules: Rule[] }[] }
  return doc.groups.flatMap((group) => group.rules)
}

interface Dashboard {
  uid: string
  panels: { title: string; gridPos: object; targets: { expr: string; refId: string }[] }[]
  templating: { list: { type: string; query: string }[] }
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])

/**
 * The metric names a PromQL expression selects: identifiers once strings, label matchers,
 * ranges, offsets and grouping clauses are removed, other than functions and operators.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\boffset\s+\w+/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  const names: string[] = []
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const [word, call] = [match[0].replace(/\s*\($/, ''), match[1]]
    if (call || PROMQL_WORDS.has(word)) continue
    names.push(word)
  }
  return names
}

/** Every query of the dashboard; a `label_values(metric, label)` variable names its metric only. */
function dashboardQueries(d: Dashboard): string[] {
  const variables = d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => v.query.match(/^label_values\((\w+),\s*\w+\)$/)?.[1] ?? v.query)
  return [...d.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...variables]
}

/** The metric names the rules and the dashboard query. */
const used = (): Set<string> => new Set([...rules().map((r) => r.expr), ...dashboardQueries(dashboard())].flatMap(metricNames))

/** The series names of a scrape (histograms as their `_bucket`, `_sum` and `_count`). */
function exposed(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(/[{ ]/)[0]!),
  )
}

describe('operations files', () => {
  it('[OPS1] the alert rules parse and have what Prometheus requires', () => {
    const all = rules()
    expect(all.length).toBeGreaterThanOrEqual(6)
    for (const rule of all) {
      expect(rule.alert).toMatch(/^Accord[A-Za-z]+$/)
      expect(rule.expr.length).toBeGreaterThan(0)
      expect(rule.for).toMatch(/^\d+[smh]$/)
      expect(['info', 'warning', 'critical']).toContain(rule.labels.severity)
      expect(rule.annotations.summary).toBeTruthy()
      expect(rule.annotations.description).toBeTruthy()
      expect(metricNames(rule.expr).length).toBeGreaterThan(0)
    }
    expect(new Set(all.map((r) => r.alert)).size).toBe(all.length)
    const promtool = spawnSync('promtool', ['check', 'rules', RULES_FILE], { encoding: 'utf8' })
    if (promtool.error) console.log('promtool is not installed: the rules are checked by parsing them only')
    else expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0)
  })

  it('[OPS2] the metric names are read from PromQL, not guessed', () => {
    expect(
      metricNames(
        'sum by (node, le) (rate(accord_persist_seconds_bucket{route!="x{y}"}[5m] offset 1h)) > 5 * max(accord_jobs_queued) and on (node) up',
      ),
    ).toEqual(['accord_persist_seconds_bucket', 'accord_jobs_queued', 'up'])
    const names = used()
    for (const name of ['accord_persist_seconds_bucket', 'accord_validation_reverts_total', 'accord_cluster_lease_live'])
      expect(names).toContain(name)
  })

  it('[OPS3] the dashboard has its panels and a query in each', () => {
    const d = dashboard()
    expect(d.uid).toBeTruthy()
    expect(d.panels.length).toBeGreaterThanOrEqual(10)
    for (const panel of d.panels) {
      expect(panel.gridPos).toBeTruthy()
      expect(panel.targets.length, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets) expect(metricNames(target.expr).length, panel.title).toBeGreaterThan(0)
    }
  })

  it('[OPS4] every metric the rules and the dashboard query, bar the cluster ones, is on a lone server’s /metrics', async () => {
    const t = await startServer()
    try {
      // A request answered first, so that the labelled HTTP histogram has its series.
      await fetch(`${t.url}/metrics`)
      const scraped = exposed(await (await fetch(`${t.url}/metrics`)).text())
      const missing = [...used()].filter((name) => !scraped.has(name) && !CLUSTER_ONLY.includes(name))
      expect(missing).toEqual([])
    } finally {
      await t.close()
    }
  })
})

describe.skipIf(skipPg || skipRedis)('operations files against a cluster member', () => {
  const cluster = clusterServers()

  it('[OPS5] every metric the rules and the dashboard query is on a cluster member’s /metrics', async () => {
    const a = await cluster.member('ops-a', SHORT)
    await login(a.url, cluster.users.owner.email, cluster.users.owner.password)
    const scraped = exposed(await (await fetch(`${a.url}/metrics`)).text())
    expect([...used()].filter((name) => !scraped.has(name))).toEqual([])
  })
})
