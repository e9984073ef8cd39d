import { startServer } from './servers.js'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
const dir = mkdtempSync('/tmp/exp/heap-')
process.env.BENCH_SERVER_NODE_ARGS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`
const s = await startServer('accord', dir, 19555, 2000, 200)
const snap = async (label: string) => { const before = readdirSync(dir).filter(f => f.endsWith('.heapsnapshot')).length; await s.probe(true); s.child.kill('SIGUSR2'); while (readdirSync(dir).filter(f => f.endsWith('.heapsnapshot')).length === before) await new Promise(r => setTimeout(r, 200)); await new Promise(r => setTimeout(r, 3000)); console.log(label, 'done') }
const names = Array.from({ length: 200 }, (_, i) => `bench/customers/d${i}`)
const gen = (n: number) => { const c = spawn(process.execPath, ['--import', 'tsx', 'bench/loadgen.ts', JSON.stringify({ role: 'idle', target: { kind: 'accord', wsUrl: s.wsUrl, token: s.tokens[0] }, tokens: s.tokens, docNames: names, socketsPerDoc: n })], { stdio: ['pipe', 'pipe', 'inherit'] }); const ready = new Promise<void>((res) => c.stdout.on('data', (d: Buffer) => { if (d.toString().includes('READY')) res() })); return { c, ready } }
const g1 = gen(1); await g1.ready
await snap('one-each')
const g2 = gen(9); await g2.ready
await snap('ten-each')
g1.c.stdin.end(); g2.c.stdin.end()
await s.stop()
console.log(dir)
