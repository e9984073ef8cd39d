/** One cell of a list row, drawn by its column's kind. */
import type { Collection } from '../../../shared/collections.js'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { timeAgo } from '../fieldKinds.js'
import type { ListColumn, ListContext } from '../listColumns.js'
import { navigate } from '../router.js'
import { Badge } from './Badge.js'

export function Cell({
  column,
  entry,
  context,
  collection,
}: {
  column: ListColumn
  entry: IndexEntry
  context: ListContext
  collection: Collection
}) {
  const text = column.text(entry, context)
  switch (column.kind) {
    case 'title':
      return (
        <td className="cell-title">
          <a
            href={`/${collection}/${entry.id}`}
            title={text}
            onClick={(e) => {
              e.preventDefault()
              e.stopPropagation()
              navigate(`/${collection}/${entry.id}`)
            }}
          >
            {text}
          </a>
        </td>
      )
    case 'enum': {
      const value = column.value(entry, context)
      return <td>{value ? <Badge value={String(value)} /> : null}</td>
    }
    case 'tags':
      return (
        <td className="cell-clip">
          {(Array.isArray(entry.fields[column.key]) ? (entry.fields[column.key] as string[]) : []).map((t) => (
            <span key={t} className="tag">
              {t}
            </span>
          ))}
        </td>
      )
    case 'money':
      return <td className="num cell-clip">{text}</td>
    case 'instant':
      return (
        <td className={column.key === 'updatedAt' ? 'cell-muted cell-clip cell-time' : 'cell-muted cell-clip'} title={text}>
          {column.key === 'updatedAt' ? timeAgo(entry.updatedAt) : text}
        </td>
      )
    default:
      return (
        <td className="cell-clip" title={text}>
          {text}
        </td>
      )
  }
}
