/**
 * A small time-series chart (uPlot on a canvas) for the admin console. The plot is made once
 * and fed new data in place, so the 5-s refresh neither flickers nor loses the cursor; it
 * follows its container's width, so the console's grid decides how wide it is.
 */
import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface ChartLine {
  label: string
  color: string
  /** One value per point of `at`; null leaves a gap (no commit in that step, say). */
  values: (number | null)[]
}

export interface SeriesChartProps {
  /** Used in the test id (`chart-<name>`). */
  name: string
  title: string
  /** Points' instants, in ms since the epoch. */
  at: number[]
  lines: ChartLine[]
  /** How an axis tick and a hovered value read (`12 ms`, `80 MiB`). */
  format: (value: number) => string
}

const HEIGHT = 150

/** `14:05`, or `14:05:30` when the chart spans only a few minutes (a fresh server). */
function clock(seconds: number, withSeconds: boolean): string {
  const t = new Date(seconds * 1000)
  const two = (n: number) => String(n).padStart(2, '0')
  return `${two(t.getHours())}:${two(t.getMinutes())}${withSeconds ? `:${two(t.getSeconds())}` : ''}`
}
const shortSpan = (u: uPlot) => {
  const xs = u.data[0]
  return xs.length < 2 || (xs.at(-1) ?? 0) - (xs[0] ?? 0) < 300
}

export function SeriesChart({ name, title, at, lines, format }: SeriesChartProps) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const data: uPlot.AlignedData = [at.map((ms) => ms / 1000), ...lines.map((line) => line.values)]
  const shape = lines.map((line) => `${line.label}:${line.color}`).join('|')

  // biome-ignore lint/correctness/useExhaustiveDependencies: the plot is remade only when its lines change; data arrives below
  useEffect(() => {
    const element = box.current
    if (!element) return
    const made = new uPlot(
      {
        width: Math.max(200, element.clientWidth),
        height: HEIGHT,
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          {
            stroke: '#6b7488',
            grid: { stroke: '#eef0f5' },
            ticks: { show: false },
            space: 70,
            values: (u, ticks) => ticks.map((t) => clock(t, shortSpan(u))),
          },
          { stroke: '#6b7488', grid: { stroke: '#eef0f5' }, ticks: { show: false }, size: 64, values: (_u, ticks) => ticks.map(format) },
        ],
        series: [
          { label: 'at', value: (_u: uPlot, v: number | null) => (v === null ? '—' : clock(v, true)) },
          ...lines.map((line) => ({
            label: line.label,
            stroke: line.color,
            width: 1.5,
            spanGaps: false,
            // Dots only while there are too few points for a line.
            points: { show: (u: uPlot) => u.data[0].length < 3 },
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)),
          })),
        ],
      },
      data,
      element,
    )
    plot.current = made
    const resize = new ResizeObserver(() => made.setSize({ width: Math.max(200, element.clientWidth), height: HEIGHT }))
    resize.observe(element)
    return () => {
      resize.disconnect()
      made.destroy()
      plot.current = null
    }
  }, [shape])

  useEffect(() => {
    plot.current?.setData(data)
  })

  const last = lines[0]?.values.at(-1)
  return (
    <figure className="chart card" data-testid={`chart-${name}`} data-points={at.length} data-last={last ?? ''}>
      <figcaption>{title}</figcaption>
      <div ref={box} className="chart-plot" />
    </figure>
  )
}
