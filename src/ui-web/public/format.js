// How numbers, times and ids read on the page. The wording follows the CLI's where it has one
// ("about 40 s left"), so the two interfaces describe a job the same way.

/** PeerIds are ~52 characters and nearly all start "12D3KooW": the tail is what tells them apart. */
export function shortId (id) {
  if (id == null) return ''
  return id.length > 24 ? `…${id.slice(-8)}` : id
}

export function aboutTime (ms) {
  const s = Math.max(1, Math.round(ms / 1000))
  if (s < 90) return `about ${s} s`
  if (s < 90 * 60) return `about ${Math.round(s / 60)} min`
  return `about ${Math.round(s / 3600)} h`
}

export function eta (ms) {
  return ms == null ? '' : `${aboutTime(ms)} left`
}

export function ago (ms) {
  if (ms == null || !Number.isFinite(ms)) return '—'
  const s = Math.max(0, ms) / 1000
  if (s < 10) return `${s.toFixed(1)} s ago`
  if (s < 90) return `${Math.round(s)} s ago`
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`
  return `${Math.round(s / 3600)} h ago`
}

export function duration (ms) {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

export function bytes (n) {
  if (n == null || !Number.isFinite(n)) return '—'
  const MiB = 1024 * 1024
  if (n >= 1024 * MiB) return `${(n / (1024 * MiB)).toFixed(1)} GiB`
  if (n >= MiB) return `${Math.round(n / MiB)} MiB`
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`
  return `${n} B`
}

/** Today's times need no date; older ones do, or a list spanning days reads wrong. */
export function when (t) {
  if (t == null) return '—'
  const d = new Date(t)
  const now = new Date()
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
  if (d.toDateString() === now.toDateString()) return time
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`
}

export function clock (t) {
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

export function percent (done, total) {
  if (!total) return 0
  return Math.min(100, Math.floor((done / total) * 100))
}

export function size (w, h) {
  return w && h ? `${w}×${h}` : '—'
}

/** Ten hues far apart: the swarm's peers, sorted by PeerId, take them in turn. */
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#9a3412', '#475569']
let order = new Map()

/** The swarm's peers, so that each takes its own colour of PALETTE (the same on every page, for this swarm). */
export function setPeerOrder (peerIds) {
  order = new Map([...peerIds].sort().map((id, i) => [id, i]))
}

/**
 * A colour per PeerId that stays the same across reloads and pages (so a peer is "the green one"
 * everywhere). Hues are spread by a string hash; two peers may land close, names in the legend settle it.
 */
export function peerColour (peerId) {
  const i = order.get(peerId)
  if (i != null && i < PALETTE.length) return PALETTE[i]
  let h = 0x811c9dc5
  for (let i = 0; i < peerId.length; i++) {
    h ^= peerId.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  // FNV alone leaves PeerIds that share their long prefix ("12D3KooW...") on nearby hues: mix the bits.
  h = Math.imul((h ^ (h >>> 16)) >>> 0, 0x85ebca6b) >>> 0
  h = Math.imul((h ^ (h >>> 13)) >>> 0, 0xc2b2ae35) >>> 0
  h = (h ^ (h >>> 16)) >>> 0
  const hue = h % 360
  const light = 38 + ((h >>> 9) % 3) * 8
  return `hsl(${hue} 65% ${light}%)`
}
