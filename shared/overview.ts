/**
 * What the admin console's series is made of, shared by the server that samples it
 * (server/metrics/Overview.ts) and the console that charts it.
 */

/** One point of the series: gauges as read, rates and quantiles over the step before it. */
export interface OverviewPoint {
  at: number
  connections: number
  usersOnline: number
  loadedDocuments: number
  updatesPerSecond: number
  commitP50Seconds: number | null
  commitP99Seconds: number | null
  reverts: number
  overwrites: number
  bookingConflicts: number
  signInRefusals: number
  jobsQueued: number
  jobsRunning: number
  jobRetries: number
  /** Jobs that ended in the step, by how. */
  jobsSucceeded: number
  jobsFailed: number
  eventLoopDelayP99Seconds: number
  residentMemoryBytes: number
  heapUsedBytes: number
}
