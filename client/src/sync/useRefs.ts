/** The live index entries of every collection: what reference fields, linked records and tasks show. */
import type { RefEntries } from '../fieldDisplay.js'
import { useIndex } from './useIndex.js'

export function useRefs(workspace: string): RefEntries {
  return {
    customers: useIndex(workspace, 'customers').entries,
    leads: useIndex(workspace, 'leads').entries,
    deals: useIndex(workspace, 'deals').entries,
    proposals: useIndex(workspace, 'proposals').entries,
    invoices: useIndex(workspace, 'invoices').entries,
    events: useIndex(workspace, 'events').entries,
    tasks: useIndex(workspace, 'tasks').entries,
  }
}
