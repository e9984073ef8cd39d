/** The sync core's generic types, bound to Accord's document names and projection. */
import type { DocName } from '../../shared/docNames.js'
import type { RecordProjection } from '../records/recordProjection.js'
import type { DocRegistry } from '../sync/DocRegistry.js'
import type { Room } from '../sync/Room.js'

/** The registry of Accord's documents. */
export type AccordRegistry = DocRegistry<DocName, RecordProjection>
/** A loaded Accord document. */
export type AccordRoom = Room<DocName>
