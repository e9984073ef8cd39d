/**
 * The benchmark's goals are computed from the run's own figures (bench/report.ts): the fan-out
 * overhead in bare commits, back to back and at the writer's pace, and the floor that one
 * commit at that pace sets. Fixed figures in, the goals' lines out.
 */
import { describe, expect, it } from 'vitest'
import { type Results, renderMarkdown } from '../bench/report.js'

function results(paced: boolean): Results {
  return {
    startedAt: '2026-11-30T00:00:00.000Z',
    mode: 'full',
    scale: {},
    p99TargetMs: 50,
    machine: {},
    servers: { accord: 'Accord on SQLite', ywebsocket: 'y-websocket 1.5.4 + LevelDB' },
    workloads: {
      fanout: { accord: { toAllP50: 5.5, toAllP99: 12, toFirstP50: 3 }, ywebsocket: { toAllP50: 4.5, toAllP99: 10, toFirstP50: 1 } },
    },
    bareCommit: { samples: 200, medianMs: 0.25, p99Ms: 1 },
    ...(paced ? { pacedBareCommit: { samples: 60, medianMs: 0.75, p99Ms: 3, intervalMs: 33.3 } } : {}),
  }
}

describe('benchmark goals', () => {
  it('[BR1] the fan-out p50 overhead in bare commits, back to back and at the pace, and the floor of one paced commit', () => {
    const md = renderMarkdown(results(true))
    // (5.5 − 4.5) / 0.25 and / 0.75; 12 / 10; one paced commit is 0.75 / 0.25 bare ones.
    expect(md).toContain('| fan-out p50: Accord − best peer, in bare commits | 4.00× | ≤ 1.5× | no |')
    expect(md).toContain('| fan-out p50: Accord − best peer, in bare commits | 1.33× | ≤ 1.5× | yes |')
    expect(md).toContain('| fan-out p99: Accord / best peer | 1.20× | ≤ 1.25× | yes |')
    expect(md).toContain('is 3.00 back-to-back bare commits: the floor of the fan-out p50 goal on this disk')
  })

  it('[BR3] CPU per update is compared at the highest many-rooms rate every server delivered (≥ 99 %)', () => {
    const step = (updatesPerS: number, delivered: number, cpuPerUpdateMs: number) => ({
      updatesPerS,
      delivered,
      cpuPerUpdateMs,
      p50: 1,
      p99: 10,
    })
    const run = results(false)
    run.workloads.rooms = {
      // Accord fell behind at 4,000/s: it did less work than it was sent, so that step is not compared.
      accord: [step(1000, 1, 0.5), step(3000, 1, 0.3), step(4000, 0.84, 0.2)],
      ywebsocket: [step(1000, 1, 0.4), step(3000, 1, 0.2), step(4000, 1, 0.15)],
    }
    expect(renderMarkdown(run)).toContain('| CPU per update at the highest rate all delivered: Accord / best peer | 1.50× | ≤ 0.7× | no |')
  })

  it('[BR2] without paced commits there is no floor line and no second table', () => {
    const md = renderMarkdown(results(false))
    expect(md).toContain('| fan-out p50: Accord − best peer, in bare commits | 4.00× | ≤ 1.5× | no |')
    expect(md).not.toContain('floor of the fan-out p50 goal')
    expect(md).not.toContain("against the bare commit at the writer's pace")
  })
})
