// The heartbeat a peer sends every interval (heartbeat-protocol.ts carries it, heartbeat-routing.ts says
// to whom). Everything another peer knows about it (liveness, role, load, which master it follows) comes
// from here, so the schema is checked strictly on receipt.
import { z } from 'zod'

export const roles = ['joining', 'follower', 'master', 'leaving'] as const
export type Role = typeof roles[number]

export const LoadSchema = z.object({
  cores: z.number().int().min(0).max(4096),
  freeSlots: z.number().int().min(0).max(4096),
  busyTiles: z.number().int().min(0).max(1_000_000),
  // Bytes work may still take here: the device's free memory or the peer's budget's room, if less.
  freeMem: z.number().min(0),
  // The peer's memory budget (--max-memory), in bytes; absent from peers before budgets.
  memoryLimit: z.number().min(0).optional(),
  // Bytes the peer's job files take in its data dir, and its --max-disk cap; absent from peers before them.
  diskUsed: z.number().min(0).optional(),
  diskMax: z.number().min(0).optional(),
  // The hottest thermal zone, °C, where the device reports one; why it offers fewer slots, when it does.
  tempC: z.number().min(-50).max(200).optional(),
  backoff: z.string().max(200).optional(),
  // Tiles per second this peer measured on its recent work; 0 until it has done some.
  tileSpeed: z.number().min(0)
})
export type Load = z.infer<typeof LoadSchema>

/** Connections a heartbeat lists: a LAN swarm's peers, without letting one heartbeat grow without bound. */
export const MAX_LINKS = 64

export const HeartbeatSchema = z.object({
  v: z.literal(1),
  peerId: z.string().min(1).max(128),
  name: z.string().max(64),
  // Distinguishes two runs of the same peer, so heartbeats of an earlier run that arrive late are ignored.
  incarnation: z.number().int().min(0),
  seq: z.number().int().min(0),
  role: z.enum(roles),
  epoch: z.number().int().min(0),
  master: z.string().max(128).nullable(),
  eligible: z.boolean(),
  // How much of the master's queue log this peer holds: the election prefers the most complete replica.
  replicaPos: z.number().int().min(0),
  load: LoadSchema,
  arch: z.string().max(32),
  platform: z.string().max(32),
  version: z.string().max(32),
  addrs: z.array(z.string().max(256)).max(32),
  // The peers the sender has a connection to (sorted): the dashboard draws who is connected to whom.
  links: z.array(z.string().max(128)).max(MAX_LINKS).optional(),
  // The sender's longest event-loop delay of the last few seconds: receivers give a slow peer more time.
  lagMs: z.number().int().min(0).max(600_000).optional()
}).strict()
export type Heartbeat = z.infer<typeof HeartbeatSchema>

export class InvalidHeartbeatError extends Error {
  override name = 'InvalidHeartbeatError'
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Parses and checks a received heartbeat. `signer` is the PeerId that sent it (the connection's peer) or
 * signed it (a relayed one): a heartbeat speaking for another peer is refused, so nobody can make a peer
 * look alive, dead or master.
 */
export function decodeHeartbeat (data: Uint8Array, signer: string): Heartbeat {
  if (data.byteLength > 16 * 1024) throw new InvalidHeartbeatError(`heartbeat from ${signer} is ${data.byteLength} bytes, expected at most 16384`)
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(data))
  } catch {
    throw new InvalidHeartbeatError(`heartbeat from ${signer} is not JSON`)
  }
  const parsed = HeartbeatSchema.safeParse(json)
  if (!parsed.success) throw new InvalidHeartbeatError(`heartbeat from ${signer} is malformed: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`)
  if (parsed.data.peerId !== signer) throw new InvalidHeartbeatError(`heartbeat signed by ${signer} claims to be from ${JSON.stringify(parsed.data.peerId)}`)
  return parsed.data
}

/** A heartbeat's JSON text with its sender's signature over it (base64), so another peer can relay it unaltered. */
export interface SignedHeartbeat {
  text: string
  sig: string
}

/** Heartbeats one frame may relay: a master's digest names every live member, and a swarm of a few hundred is far beyond a lab. */
export const MAX_RELAYED = 256
/** A heartbeat is under 2 KiB in practice; decodeHeartbeat refuses more than 16 KiB. */
const MAX_HEARTBEAT_CHARS = 16 * 1024
/** An Ed25519 signature is 64 bytes: 88 base64 characters. */
const MAX_SIG_CHARS = 128

const SignedSchema = { hb: z.string().min(2).max(MAX_HEARTBEAT_CHARS), sig: z.string().min(1).max(MAX_SIG_CHARS) }

/**
 * What travels on the heartbeat protocol: the sender's own heartbeat, and heartbeats of others it vouches
 * were heard `ageMs` ago (a master's digest, or the master's heartbeat given to a peer outside the star).
 */
export const HeartbeatFrameSchema = z.object({
  v: z.literal(1),
  ...SignedSchema,
  relayed: z.array(z.object({ ...SignedSchema, ageMs: z.number().int().min(0).max(600_000) }).strict()).max(MAX_RELAYED).optional(),
  /**
   * Members the sender vouches were heard `ageMs` ago whose heartbeat has not changed in substance since the
   * sender last relayed it to this receiver (materialKey): liveness without the same signed text again.
   */
  seen: z.array(z.object({ peer: z.string().min(1).max(128), ageMs: z.number().int().min(0).max(600_000) }).strict()).max(MAX_RELAYED).optional()
}).strict()
export type HeartbeatFrame = z.infer<typeof HeartbeatFrameSchema>

/**
 * What a heartbeat says that others act on: all but its sequence number, event-loop lag, links and small moves of
 * its free memory, which change every interval. A master relays a member's heartbeat again only when this
 * changes (else it vouches for the member in `seen`); the lag a receiver allows that member is then the one
 * it last heard, at most a full digest old.
 */
export function materialKey (hb: Heartbeat): string {
  // Free memory moves by a few pages every interval: only a move of 64 MiB is news to the others.
  // Links only draw the dashboard's picture: a change waits for the next full digest, not a relay of its own.
  return JSON.stringify({ ...hb, seq: 0, lagMs: 0, links: undefined, load: { ...hb.load, freeMem: Math.round(hb.load.freeMem / MATERIAL_MEM_STEP), diskUsed: hb.load.diskUsed == null ? undefined : Math.round(hb.load.diskUsed / MATERIAL_DISK_STEP) } })
}

/** Disk use moves with every tile stored: only a move of 1 MiB is news (status shows MiB). */
const MATERIAL_DISK_STEP = 1024 * 1024

const MATERIAL_MEM_STEP = 64 * 1024 * 1024

export function heartbeatText (hb: Heartbeat): string {
  return JSON.stringify(hb)
}

/** Parses a heartbeat's text and checks it comes from `signer` (the connection's peer, or the key that signed it). */
export function parseHeartbeat (text: string, signer: string): Heartbeat {
  return decodeHeartbeat(encoder.encode(text), signer)
}

/** The peerId a heartbeat text claims, cheaply (before it is worth a schema check and a signature check); undefined if unreadable. */
export function claimedPeer (text: string): { peerId: string, incarnation: number, seq: number } | undefined {
  try {
    const v = JSON.parse(text) as { peerId?: unknown, incarnation?: unknown, seq?: unknown }
    if (typeof v.peerId !== 'string' || typeof v.incarnation !== 'number' || typeof v.seq !== 'number') return undefined
    return { peerId: v.peerId, incarnation: v.incarnation, seq: v.seq }
  } catch {
    return undefined
  }
}
