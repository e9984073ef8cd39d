/**
 * The invariants a simulation run must end with, as pure checks over what the
 * simulator observed. Each returns human-readable violations (empty = holds).
 */

/** A calendar event as the REST API returns it (only what the checks read). */
export interface BookedEvent {
  id: string
  start: string
  end: string
  attendees?: string[]
  room?: string
  status?: string
  reservation?: { status: string } | null
}

export interface ReplicaState {
  /** Who holds this copy (for messages). */
  holder: string
  notes: string
  fields: Record<string, unknown>
}

/** Every replica of one document equals the reference copy fetched at the end. */
export function checkConverged(docName: string, reference: ReplicaState, replicas: ReplicaState[]): string[] {
  const want = JSON.stringify(sortKeys(reference.fields))
  const problems: string[] = []
  for (const replica of replicas) {
    if (replica.notes !== reference.notes) problems.push(`${docName}: notes of ${replica.holder} differ from the server's`)
    else if (JSON.stringify(sortKeys(replica.fields)) !== want)
      problems.push(`${docName}: fields of ${replica.holder} differ from the server's`)
  }
  return problems
}

/** Every edit marker typed into a document is present in its final notes. */
export function checkEditsPresent(docName: string, notes: string, markers: Iterable<string>): string[] {
  const missing = [...markers].filter((marker) => !notes.includes(marker))
  return missing.length === 0 ? [] : [`${docName}: ${missing.length} edit(s) missing, e.g. ${missing.slice(0, 3).join(' ')}`]
}

/** Two events clash when they share an attendee or a room and their [start, end) overlap. */
export function clash(a: BookedEvent, b: BookedEvent): boolean {
  const overlap = Date.parse(a.start) < Date.parse(b.end) && Date.parse(b.start) < Date.parse(a.end)
  if (!overlap) return false
  if (a.room && a.room === b.room) return true
  const people = new Set(a.attendees ?? [])
  return (b.attendees ?? []).some((id) => people.has(id))
}

/** No two confirmed, scheduled reservations clash. */
export function checkNoDoubleBooking(events: BookedEvent[]): string[] {
  const confirmed = events.filter((e) => e.reservation?.status === 'confirmed' && e.status !== 'cancelled')
  const problems: string[] = []
  for (let i = 0; i < confirmed.length; i++) {
    for (let j = i + 1; j < confirmed.length; j++) {
      if (clash(confirmed[i]!, confirmed[j]!))
        problems.push(`double booking: events ${confirmed[i]!.id} and ${confirmed[j]!.id} are both confirmed`)
    }
  }
  return problems
}

/** Every started job reached a final status. */
export function checkJobsFinished(jobs: { id: string; status: string }[]): string[] {
  return jobs
    .filter((job) => job.status !== 'succeeded' && job.status !== 'failed')
    .map((job) => `job ${job.id} did not finish (status ${job.status})`)
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
}
