/**
 * The deals pipeline: a column per stage with its totals per currency (and weighted by the
 * stage's odds), live from the deals index. Move a card by dragging it (HTML5 drag and drop)
 * or, with the card focused, with the ← and → keys; a toast offers to undo the move.
 */
import { type DragEvent, type KeyboardEvent, useEffect, useState } from 'react'
import { DEAL_STAGES } from '../../../shared/collections.js'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { Avatar } from '../components/Avatar.js'
import { viewersOf, Viewers } from '../components/Presence.js'
import { useToast } from '../components/Toasts.js'
import { formatDate, formatMoney } from '../fieldKinds.js'
import { type CurrencyTotal, STAGE_WEIGHTS, type Stage, totalsByCurrency } from '../pipelineTotals.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useIndex } from '../sync/useIndex.js'

/** Cards drawn per column at most: the rest are counted, and listed in the deals list. */
const CARDS_PER_COLUMN = 200
const DRAG_TYPE = 'application/x-accord-deal'

function stageOf(entry: IndexEntry): Stage {
  const stage = entry.fields.stage
  return (DEAL_STAGES as readonly unknown[]).includes(stage) ? (stage as Stage) : 'lead'
}

export default function BoardScreen() {
  const user = useUser()
  const users = useUsers()
  const toast = useToast()
  const { entries, presence, connection, loaded } = useIndex(user.workspace, 'deals')
  const [moving, setMoving] = useState<Record<string, Stage>>({})
  const [dropTarget, setDropTarget] = useState<Stage | null>(null)
  const readOnly = user.role === 'viewer'

  const stageWithMove = (entry: IndexEntry) => moving[entry.id] ?? stageOf(entry)

  /** Moves a deal to `stage`; unless `undoing`, a toast then offers to move it back. */
  async function move(entry: IndexEntry, stage: Stage, undoing = false) {
    const from = stageWithMove(entry)
    if (readOnly || (!undoing && from === stage)) return
    setMoving((m) => ({ ...m, [entry.id]: stage }))
    try {
      await api('PATCH', `/api/records/deals/${entry.id}`, { stage })
      if (!undoing)
        toast(`“${entry.title}” moved to ${stage}`, 'success', { action: { label: 'Undo', run: () => void move(entry, from, true) } })
    } catch (e) {
      toast(e instanceof ApiError ? `Could not move “${entry.title}”: ${e.message}` : 'Could not move the deal', 'error')
      setMoving(({ [entry.id]: _, ...rest }) => rest)
    }
  }

  // A move stays shown until the live index carries it (or it failed).
  useEffect(() => {
    setMoving((m) => {
      const pending = Object.entries(m).filter(([id, stage]) => entries.find((e) => e.id === id && stageOf(e) !== stage))
      return pending.length === Object.keys(m).length ? m : Object.fromEntries(pending)
    })
  }, [entries])

  function onKey(event: KeyboardEvent, entry: IndexEntry) {
    const i = DEAL_STAGES.indexOf(stageWithMove(entry))
    if (event.key === 'ArrowRight' && i < DEAL_STAGES.length - 1) void move(entry, DEAL_STAGES[i + 1]!)
    else if (event.key === 'ArrowLeft' && i > 0) void move(entry, DEAL_STAGES[i - 1]!)
    else if (event.key === 'Enter') navigate(`/deals/${entry.id}`)
    else return
    event.preventDefault()
  }

  function onDrop(event: DragEvent, stage: Stage) {
    event.preventDefault()
    setDropTarget(null)
    const entry = entries.find((e) => e.id === event.dataTransfer.getData(DRAG_TYPE))
    if (entry) void move(entry, stage)
  }

  const amountsOf = (list: IndexEntry[]) =>
    list.map((e) => ({ stage: stageWithMove(e), amount: Number(e.fields.amount ?? 0) || 0, currency: String(e.fields.currency ?? 'EUR') }))
  const open = totalsByCurrency(amountsOf(entries.filter((e) => stageWithMove(e) !== 'lost' && stageWithMove(e) !== 'won')))
  const won = totalsByCurrency(amountsOf(entries.filter((e) => stageWithMove(e) === 'won')))
  return (
    <section aria-labelledby="board-title" className="board-page">
      <div className="page-header">
        <h1 id="board-title">Pipeline</h1>
        <span className="count">{entries.length} deals</span>
        <span className="page-sub" data-testid="pipeline-sums">
          Open {moneyList(open)} (weighted {moneyList(open, true)}) · Won {moneyList(won)}
        </span>
        <p className="hint" id="board-help">
          Drag a card to another stage, or focus it and press ← / →.
        </p>
      </div>
      {!loaded && <p className="empty">Loading…</p>}
      <div className="board" role="list" aria-describedby="board-help">
        {DEAL_STAGES.map((stage) => {
          const cards = entries
            .filter((e) => stageWithMove(e) === stage)
            .sort((a, b) => Number(b.fields.amount ?? 0) - Number(a.fields.amount ?? 0))
          const totals = totalsByCurrency(amountsOf(cards))
          return (
            <div
              key={stage}
              role="listitem"
              className={`column column-${stage}${dropTarget === stage ? ' drop-target' : ''}`}
              data-stage={stage}
              aria-label={`${stage}: ${cards.length} deals, ${moneyList(totals)}`}
              onDragOver={(e) => {
                if (readOnly) return
                e.preventDefault()
                e.dataTransfer.dropEffect = 'move'
                setDropTarget(stage)
              }}
              onDragLeave={() => setDropTarget((t) => (t === stage ? null : t))}
              onDrop={(e) => onDrop(e, stage)}
            >
              <header className="column-head">
                <h2>{stage}</h2>
                <span className="column-count">{cards.length}</span>
                <ColumnTotals stage={stage} totals={totals} />
              </header>
              {cards.length === 0 && <p className="column-empty">No deals</p>}
              <ul className="cards">
                {cards.slice(0, CARDS_PER_COLUMN).map((entry) => {
                  const owner = users.find((u) => u.id === entry.fields.ownerId)
                  return (
                    <li
                      key={entry.id}
                      className={`deal-card${moving[entry.id] ? ' is-moving' : ''}`}
                      draggable={!readOnly}
                      tabIndex={0}
                      data-deal-id={entry.id}
                      aria-label={`${entry.title}, ${formatMoney(Number(entry.fields.amount ?? 0), String(entry.fields.currency ?? 'EUR'))}, stage ${stage}`}
                      onDragStart={(e) => {
                        e.dataTransfer.setData(DRAG_TYPE, entry.id)
                        e.dataTransfer.effectAllowed = 'move'
                      }}
                      onKeyDown={(e) => onKey(e, entry)}
                      onDoubleClick={() => navigate(`/deals/${entry.id}`)}
                    >
                      <a
                        className="deal-title"
                        href={`/deals/${entry.id}`}
                        tabIndex={-1}
                        onClick={(e) => {
                          e.preventDefault()
                          navigate(`/deals/${entry.id}`)
                        }}
                      >
                        {entry.title}
                      </a>
                      <div className="deal-amount">
                        {formatMoney(Number(entry.fields.amount ?? 0), String(entry.fields.currency ?? 'EUR'))}
                      </div>
                      <div className="deal-meta">
                        {entry.fields.closeDate ? <span>Closes {formatDate(String(entry.fields.closeDate))}</span> : <span />}
                        <span className="deal-people">
                          <Viewers viewers={viewersOf(presence, entry.id, connection?.doc.clientID)} />
                          {owner && <Avatar name={owner.name} color={owner.color} size="sm" />}
                        </span>
                      </div>
                    </li>
                  )
                })}
              </ul>
              {cards.length > CARDS_PER_COLUMN && (
                <p className="column-more">
                  and {cards.length - CARDS_PER_COLUMN} more:{' '}
                  <a
                    href="/deals"
                    onClick={(e) => {
                      e.preventDefault()
                      navigate('/deals')
                    }}
                  >
                    see the list
                  </a>
                </p>
              )}
            </div>
          )
        })}
      </div>
    </section>
  )
}

/** Sums of several currencies in words: `€1,200 + $300`; `€0` for none. */
function moneyList(totals: readonly CurrencyTotal[], weighted = false): string {
  if (totals.length === 0) return formatMoney(0)
  return totals.map((t) => formatMoney(weighted ? t.weighted : t.amount, t.currency)).join(' + ')
}

/** A column's total per currency, each with its weighted amount (the stage's odds of winning). */
function ColumnTotals({ stage, totals }: { stage: Stage; totals: readonly CurrencyTotal[] }) {
  const odds = `${Math.round(STAGE_WEIGHTS[stage] * 100)} %`
  return (
    <div className="column-total" data-testid={`total-${stage}`}>
      {totals.length === 0 && <div className="column-sum">{formatMoney(0)}</div>}
      {totals.map((t) => (
        <div key={t.currency} className="column-sum" data-currency={t.currency}>
          <span className="column-amount">{formatMoney(t.amount, t.currency)}</span>
          <span className="column-weighted" title={`Weighted at ${odds}: the stage's odds of winning`}>
            {formatMoney(t.weighted, t.currency)} weighted
          </span>
        </div>
      ))}
    </div>
  )
}
