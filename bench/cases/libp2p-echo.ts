// A libp2p echo peer for the transfer case: the same transport stack as a swarm peer (tcp + noise +
// yamux with the swarm's stream window) and nothing else; every stream of /bench/echo/1.0.0 gets its
// bytes back. Separates the cost of the libp2p streams from that of the tile protocol and the worker.
// Prints "addr <multiaddr>" when listening.
import { noise } from '@chainsafe/libp2p-noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

const ECHO_PROTOCOL = '/bench/echo/1.0.0' // also in transfer.ts

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 4 * 1024 * 1024 } })],
  connectionGater: { denyDialMultiaddr: () => false }
})
await node.handle(ECHO_PROTOCOL, (stream) => {
  stream.addEventListener('message', (evt) => { stream.send(evt.data) })
  stream.addEventListener('remoteCloseWrite', () => { void stream.close().catch(() => { stream.abort(new Error('close failed')) }) })
}, { maxInboundStreams: 64 })
process.stdout.write(`addr ${node.getMultiaddrs()[0].toString()}\n`)
const stop = (): void => { void Promise.resolve(node.stop()).finally(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
