/**
 * The records that point at this one, live from the index documents: a customer's deals,
 * proposals, invoices and upcoming events; a deal's proposals and invoices; a proposal's
 * invoices. Each is a link, with its status and, where there is one, its amount.
 */
import type { Collection, FieldValues } from '../../../shared/collections.js'
import type { IndexEntry } from '../../../shared/docLayout.js'
import type { RefEntries } from '../fieldDisplay.js'
import { COLLECTION_LABELS, formatDate, formatInstant, formatMoney } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { Badge } from './Badge.js'
import { RecordLink } from './RecordLink.js'

interface Group {
  collection: Collection
  entries: IndexEntry[]
  /** Where "New" leads, prefilled with the link to this record; none when records are not made from here. */
  newPath?: string
  title?: string
}

const pointsAt = (field: string, ids: ReadonlySet<string>) => (e: IndexEntry) => ids.has(String(e.fields[field] ?? ''))

/** The groups shown for a record of `collection` (none for collections nothing points at). */
export function linkedGroups(collection: Collection, id: string, refs: RefEntries, now = Date.now()): Group[] {
  const all = (c: Collection) => refs[c] ?? []
  const self = new Set([id])
  if (collection === 'customers') {
    const deals = all('deals').filter(pointsAt('customerId', self))
    const dealIds = new Set(deals.map((d) => d.id))
    const upcoming = all('events')
      .filter((e) => e.fields.customerId === id && Date.parse(String(e.fields.end)) >= now && e.fields.status !== 'cancelled')
      .sort((a, b) => String(a.fields.start).localeCompare(String(b.fields.start)))
    return [
      { collection: 'deals', entries: deals, newPath: `/deals/new?customerId=${id}` },
      { collection: 'proposals', entries: all('proposals').filter(pointsAt('dealId', dealIds)) },
      {
        collection: 'invoices',
        entries: all('invoices').filter((e) => e.fields.customerId === id || dealIds.has(String(e.fields.dealId ?? ''))),
        newPath: `/invoices/new?customerId=${id}`,
      },
      { collection: 'events', entries: upcoming, title: 'Upcoming events' },
    ]
  }
  if (collection === 'deals') {
    return [
      { collection: 'proposals', entries: all('proposals').filter(pointsAt('dealId', self)), newPath: `/proposals/new?dealId=${id}` },
      { collection: 'invoices', entries: all('invoices').filter(pointsAt('dealId', self)) },
    ]
  }
  if (collection === 'proposals') return [{ collection: 'invoices', entries: all('invoices').filter(pointsAt('proposalId', self)) }]
  return []
}

/** What a linked record reads as beside its name: its status, amount or time. */
function facts(collection: Collection, fields: FieldValues, authority: FieldValues, timeZone?: string): string[] {
  const out: string[] = []
  if (collection === 'deals' && typeof fields.amount === 'number') out.push(formatMoney(fields.amount, String(fields.currency ?? 'EUR')))
  if (collection === 'invoices' && authority.number !== undefined) out.push(`No. ${String(authority.number)}`)
  if (collection === 'invoices' && typeof fields.dueDate === 'string' && fields.dueDate) out.push(`due ${formatDate(fields.dueDate)}`)
  if (collection === 'proposals' && typeof fields.validUntil === 'string' && fields.validUntil)
    out.push(`valid until ${formatDate(fields.validUntil)}`)
  if (collection === 'events') out.push(formatInstant(String(fields.start), timeZone))
  return out
}

/** `timeZone`: the zone events' times are shown on (the calendar's). */
export function LinkedRecords(props: { collection: Collection; id: string; refs: RefEntries; canCreate: boolean; timeZone?: string }) {
  const groups = linkedGroups(props.collection, props.id, props.refs)
  if (groups.length === 0) return null
  return (
    <section className="card linked" aria-label="Linked records" data-testid="linked-records">
      {groups.map((group) => {
        const label = group.title ?? COLLECTION_LABELS[group.collection].plural
        return (
          <div key={group.collection} className="linked-group" data-testid={`linked-${group.collection}`}>
            <h2>
              {label} <span className="count">{group.entries.length}</span>
              {props.canCreate && group.newPath && (
                <a
                  className="button button-small button-ghost linked-new"
                  href={group.newPath}
                  onClick={(e) => {
                    e.preventDefault()
                    navigate(group.newPath!)
                  }}
                >
                  + New {COLLECTION_LABELS[group.collection].singular.toLowerCase()}
                </a>
              )}
            </h2>
            {group.entries.length === 0 ? (
              <p className="cell-muted">None yet.</p>
            ) : (
              <ul>
                {group.entries.map((entry) => {
                  const status = entry.fields.stage ?? entry.fields.status
                  return (
                    <li key={entry.id}>
                      <RecordLink collection={group.collection} id={entry.id}>
                        {group.collection === 'invoices' && entry.authority.number !== undefined
                          ? `Invoice ${String(entry.authority.number)}`
                          : group.collection === 'invoices'
                            ? 'Draft invoice'
                            : entry.title}
                      </RecordLink>
                      {typeof status === 'string' && <Badge value={status} />}
                      <span className="cell-muted">
                        {facts(group.collection, entry.fields, entry.authority, props.timeZone).join(' · ')}
                      </span>
                    </li>
                  )
                })}
              </ul>
            )}
          </div>
        )
      })}
    </section>
  )
}
