/**
 * The names an export shows for references (a deal's customer and owner, an event's
 * attendees), looked up page by page: before a page is written, the ids it refers to that are
 * not known yet are read in one query per collection. The workspace's users are read once.
 */
import type { Collection } from '../../../shared/collections.js'
import type { ApiRecord } from '../../records/RecordReads.js'
import { NAMED_REFERENCES, type NameLookup, type ReferenceTarget } from './table.js'

/** Where the names come from. */
export interface NameSources {
  /** The workspace's users. */
  users(workspace: string): Promise<readonly { id: string; name: string }[]>
  /** The titles of those of `ids` that are stored (RecordReads.titles). */
  titles(workspace: string, collection: Collection, ids: readonly string[]): Promise<Map<string, string>>
}

type RecordTarget = Exclude<ReferenceTarget, 'users'>

export class ReferenceNames implements NameLookup {
  private users: Map<string, string> | null = null
  /** Names per collection, `undefined` for an id looked up and not found (so it is not looked up again). */
  private readonly records = new Map<RecordTarget, Map<string, string | undefined>>()

  constructor(
    private readonly sources: NameSources,
    private readonly workspace: string,
  ) {}

  /** Reads the names that the references of `page` (records of `collection`) need and are not known yet. */
  async load(collection: Collection, page: readonly ApiRecord[]): Promise<void> {
    const wanted = new Map<RecordTarget, Set<string>>()
    for (const ref of NAMED_REFERENCES[collection]) {
      if (ref.to === 'users') {
        this.users ??= new Map((await this.sources.users(this.workspace)).map((user) => [user.id, user.name]))
        continue
      }
      const known = this.known(ref.to)
      const ids = wanted.get(ref.to) ?? wanted.set(ref.to, new Set()).get(ref.to)!
      for (const record of page) {
        const id = record[ref.field]
        if (typeof id === 'string' && id && !known.has(id)) ids.add(id)
      }
    }
    for (const [to, ids] of wanted) {
      if (ids.size === 0) continue
      const titles = await this.sources.titles(this.workspace, to, [...ids])
      const known = this.known(to)
      for (const id of ids) known.set(id, titles.get(id))
    }
  }

  nameOf(to: ReferenceTarget, id: string): string | undefined {
    return to === 'users' ? this.users?.get(id) : this.records.get(to)?.get(id)
  }

  private known(to: RecordTarget): Map<string, string | undefined> {
    return this.records.get(to) ?? this.records.set(to, new Map()).get(to)!
  }
}
