/** Store-level fixtures: a record's projection row, as the records module writes one. */
import type { ProjectionRow } from '../../server/store/DocStore.js'

/** The `records` row of deal `id` at edit `tag`: its ETag and times follow the tag, `version` counts the rows written. */
export function recordRow(id: string, tag: number): ProjectionRow {
  return {
    table: 'records',
    key: ['workspace', 'collection', 'id'],
    values: {
      workspace: 'acme',
      collection: 'deals',
      id,
      fields: '{}',
      notes: '',
      items: '[]',
      authority: '{}',
      etag: `e${tag}`,
      version: 1,
      created_at: tag,
      updated_at: tag,
    },
    insertOnly: ['created_at'],
    increment: ['version'],
  }
}
