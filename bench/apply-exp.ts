import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { Room } from '../server/sync/Room.js'
import { fieldsOf } from '../shared/docLayout.js'
const host = { scheduleFlush() {}, onIdle() {} }
const seed = new Y.Doc(); fieldsOf(seed).set('name', 'Bench')
const room = new Room({ kind: 'record', workspace: 'w', collection: 'customers', id: 'a' } as any, 'w/customers/a', { updates: [Y.encodeStateAsUpdate(seed)], loggedCount: 0, loggedBytes: 0 }, host as any)
const peer: any = { kind: 'peer', socket: { send() {}, isOpen: () => true, close() {}, bufferedAmount: () => 0 }, principal: { userId: 'u', name: 'n', color: '#000', role: 'member', workspace: 'w', sessionId: 's' }, canWrite: true, wantsNotices: false, awarenessClients: new Set() }
room.addPeer(peer)
const client = new Y.Doc(); Y.applyUpdate(client, Y.encodeStateAsUpdate(room.doc))
const msgs: Uint8Array[] = []
client.on('update', (u: Uint8Array) => { const e = encoding.createEncoder(); encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, u); msgs.push(encoding.toUint8Array(e)) })
const t = client.getText('notes')
for (let i = 0; i < 1300; i++) t.insert(t.length, `|${Date.now() + i}`)
const times: number[] = []
let i = 0
for (const m of msgs) { if (i++ > 1000) await new Promise(r => setTimeout(r, 30)); const t0 = performance.now(); room.handleMessage(peer, m); times.push(performance.now() - t0); room.takePending() }
const tail = times.slice(1000).sort((a, b) => a - b)
console.log('handleMessage after 30 ms idle p50', tail[150].toFixed(4), 'p90', tail[270].toFixed(4))
