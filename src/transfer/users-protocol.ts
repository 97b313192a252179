// `/swarm/users/1.0.0`: accounts (swarm user add/list/remove, swarm login, the dashboard's login). One
// request, one reply, on the master; any other peer answers not-master with the master's id, as the job
// protocols do. What is allowed is src/scheduler/account-service.ts's, passed in as a UsersHandler.
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { systemClock, type Clock } from './clock.ts'
import { ask, serveOnMaster, type ClientOptions } from './job-protocol.ts'
import { USERS_PROTOCOL, UsersReplySchema, UsersRequestSchema, type UsersReply, type UsersRequest } from './messages.ts'

export { USERS_PROTOCOL }

/** Account requests at once: a person's, now and then, and logins (each one scrypt: ~32 MiB for ~100 ms). */
export const USERS_MAX_INBOUND_STREAMS = 4

/** Sends one account request to the master (signed with opts.signer, except a login: its password is the proof). */
export async function askUsers (node: Pick<Libp2p, 'dialProtocol' | 'peerStore'>, master: PeerId, req: UsersRequest, opts: ClientOptions = {}): Promise<UsersReply> {
  return await ask(node, master, USERS_PROTOCOL, req, UsersReplySchema, req.op === 'login' ? { ...opts, signer: undefined } : opts)
}

export interface UsersHandler {
  serving: () => boolean
  masterId: () => string | null
  /** Throws JobRefusal to refuse (unauthorized, bad-input, busy). */
  handle: (req: UsersRequest) => Promise<UsersReply>
}

export class UsersProtocolService {
  readonly #libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  readonly #handler: UsersHandler
  readonly #clock: Clock
  #started = false

  constructor (components: { libp2p: Pick<Libp2p, 'handle' | 'unhandle'> }, init: { handler: UsersHandler, clock?: Clock }) {
    this.#libp2p = components.libp2p
    this.#handler = init.handler
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#libp2p.handle(USERS_PROTOCOL, async (stream: Stream) => { await this.#serve(stream) }, { maxInboundStreams: USERS_MAX_INBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#libp2p.unhandle(USERS_PROTOCOL)
    this.#started = false
  }

  readonly #serve = (stream: Stream): Promise<void> => serveOnMaster(this.#handler, this.#clock, async (fs) => {
    const req = await fs.readJson(UsersRequestSchema)
    await fs.writeJson(await this.#handler.handle(req))
    await fs.close()
  })(stream)
}
