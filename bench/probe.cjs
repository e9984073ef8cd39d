// Preloaded into every benchmarked server (`node --require bench/probe.cjs`): answers
// the orchestrator over the IPC channel with memory, event-loop delay and CPU time, so the three
// servers are measured the same way from the inside.
const { monitorEventLoopDelay } = require('node:perf_hooks')

if (process.send) {
  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  let cpuFrom = process.cpuUsage()
  process.on('message', (message) => {
    if (message === 'reset') {
      loop.reset()
      cpuFrom = process.cpuUsage()
      process.send({ ok: true })
    } else if (message === 'probe' || message === 'probe-memory') {
      // Only the memory probe collects garbage first: a forced full GC stalls the server
      // for tens of milliseconds, which must not land in a latency measurement.
      if (message === 'probe-memory' && typeof global.gc === 'function') {
        global.gc()
        global.gc()
      }
      const m = process.memoryUsage()
      const cpu = process.cpuUsage(cpuFrom)
      process.send({
        rss: m.rss,
        heapUsed: m.heapUsed,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        loopP50Ms: loop.percentile(50) / 1e6,
        loopP99Ms: loop.percentile(99) / 1e6,
        loopMaxMs: loop.max / 1e6,
        cpuMs: (cpu.user + cpu.system) / 1000,
      })
    }
  })
  // The IPC channel must not keep a server alive that wants to exit.
  process.channel?.unref()
}
