// Entry of the writer thread (see ThreadedDocStore.ts). A worker thread does not inherit
// the main thread's TypeScript loader, so it registers tsx before loading the source.
import { register } from 'tsx/esm/api'

register()
await import('./writerThread.ts')
