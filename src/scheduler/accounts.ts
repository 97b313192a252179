// Who may do what, once a swarm has accounts: a request's signature names its author (src/transfer/
// request-auth.ts), and a user sees and cancels the jobs they own; an admin, every job. With no account
// the swarm is open, as before accounts existed: every keyed device may do anything.
import { AUTH_SKEW_MS, AuthSchema, signatureValid, type Caller } from '../transfer/request-auth.ts'
import { JobRefusal } from '../transfer/job-protocol.ts'
import { ErrorCodes } from '../transfer/messages.ts'
import type { UserRecord } from './records.ts'

/**
 * Nonces remembered: every signed request within AUTH_SKEW_MS either side (a busy classroom sends a few a
 * second; this is hours of them). Past it the oldest are dropped, and only a request older than those
 * could be replayed, inside its skew.
 */
export const MAX_NONCES = 200_000

export class ReplayGuard {
  readonly #seen = new Map<string, number>()

  /** false when this nonce was seen before (a replay); remembers it until it could no longer pass the skew check. */
  fresh (nonce: string, now: number): boolean {
    for (const [n, until] of this.#seen) {
      if (until > now && this.#seen.size <= MAX_NONCES) break
      this.#seen.delete(n)
    }
    if (this.#seen.has(nonce)) return false
    this.#seen.set(nonce, now + 2 * AUTH_SKEW_MS)
    return true
  }
}

const refuse = (message: string): JobRefusal => new JobRefusal(ErrorCodes.unauthorized, message)

export interface IdentifyInput {
  users: ReadonlyMap<string, UserRecord>
  protocol: string
  /** This peer's id: the master the request was signed for. */
  self: string
  request: Record<string, unknown>
  now: number
  guard: ReplayGuard
}

/** The request's author, or null in an open swarm; throws JobRefusal(unauthorized) with the reason otherwise. */
export function identify ({ users, protocol, self, request, now, guard }: IdentifyInput): Caller {
  if (users.size === 0) return null
  if (request.auth == null) throw refuse('this swarm has accounts, and the request is not signed: log in with `swarm login NAME` on this device')
  const parsed = AuthSchema.safeParse(request.auth)
  if (!parsed.success) throw refuse('the request\'s signature is malformed; log in again with `swarm login NAME`')
  const auth = parsed.data
  const user = users.get(auth.user)
  if (user == null) throw refuse(`there is no account ${JSON.stringify(auth.user)} in this swarm (an admin adds it with \`swarm user add ${auth.user}\`)`)
  const drift = auth.at - now
  if (Math.abs(drift) > AUTH_SKEW_MS) throw refuse(`the request was signed ${Math.round(Math.abs(drift) / 60_000)} min ${drift < 0 ? 'ago' : 'ahead of the master\'s clock'}; more than ${AUTH_SKEW_MS / 60_000} min apart is refused: check this device's clock`)
  if (!signatureValid(protocol, self, request, auth, user.keys)) throw refuse(`the request's signature matches no key of ${auth.user}'s: log in again with \`swarm login ${auth.user}\``)
  if (!guard.fresh(auth.nonce, now)) throw refuse('this request was sent before (a replay): refused')
  return { name: user.name, admin: user.admin }
}

/** Whether `caller` may see and act on a job owned by `owner` (a job from before accounts has none: admins only). */
export function maySee (caller: Caller, owner: string | undefined): boolean {
  return caller == null || caller.admin || (owner != null && owner === caller.name)
}
