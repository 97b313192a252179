// The CLI's way into the swarm: connectClient, saying what it is doing when that takes a moment. With no
// peer running, a command used to wait 5-15 s in silence before its error.
import { connectClient, type ClientOptions, type SwarmClient } from '../node/client.ts'
import type { DeviceKey } from '../transfer/request-auth.ts'
import { loadDeviceKey } from './user-key.ts'

/** Connections on a LAN take milliseconds: past this, the person is told what is being waited for. */
export const SEARCH_NOTICE_MS = 400

export interface ConnectFeedback {
  /** Where the line goes (stderr: stdout holds the command's output); nothing with --quiet or --json. */
  say?: (line: string) => void
}

/** A client, and the key of the user this device speaks for (swarm login), if any: requests are signed with it. */
export type SignedClient = SwarmClient & { signer?: DeviceKey }

export async function connectWithFeedback (opts: ClientOptions, feedback: ConnectFeedback = {}): Promise<SignedClient> {
  // Read first: a damaged key file is said before any search of the LAN.
  const signer = await loadDeviceKey()
  const say = feedback.say
  const where = opts.peers != null && opts.peers.length > 0 ? `${opts.peers.join(', ')}` : 'the LAN (mDNS)'
  const timer = say == null ? undefined : setTimeout(() => { say(`searching ${where} for a swarm peer (up to ${Math.round((opts.timeoutMs ?? 5000) / 1000)} s)...`) }, SEARCH_NOTICE_MS)
  timer?.unref()
  try {
    const client = await connectClient(opts)
    return signer == null ? client : { ...client, signer }
  } finally {
    clearTimeout(timer)
  }
}
