// Hocuspocus 3 with its SQLite extension (the `sqlite3` package), default debounce
// (store 2 s after the last change, at most every 10 s) as documented upstream.
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'

const server = new Server({
  port: Number(process.env.PORT),
  address: '127.0.0.1',
  quiet: true,
  extensions: [new SQLite({ database: process.env.DB_FILE })],
})
await server.listen()
console.log(`listening on ${process.env.PORT}`)
