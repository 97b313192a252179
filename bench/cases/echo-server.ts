// A plain TCP echo server on 127.0.0.1 (the raw-TCP baseline of the transfer case). Prints its port.
import { createServer } from 'node:net'

const server = createServer((sock) => {
  sock.setNoDelay(true)
  sock.pipe(sock)
  sock.on('error', () => { sock.destroy() })
})
server.listen(0, '127.0.0.1', () => {
  const a = server.address()
  process.stdout.write(`port ${typeof a === 'object' && a != null ? a.port : 0}\n`)
})
const stop = (): void => { server.close(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
