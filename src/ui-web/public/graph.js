// The swarm as a picture: peers on a circle, links between those connected, the master drawn larger.
// Positions come from the sorted PeerIds so a peer keeps its place when others join or leave.
import { html } from './html.js'
import { shortId } from './format.js'

const SIZE = 420
/** Room each side for the names of the peers at 3 and 9 o'clock. */
const MARGIN = 90
const CENTRE = SIZE / 2
const RING = 150
/** Past this many, names overlap: they stay in each node's tooltip and the table. */
const MAX_LABELS = 24

function tooltip (p) {
  const notes = [p.role, p.self && 'serving this page', !p.alive && 'not heard from'].filter(Boolean).join(', ')
  return `${p.name || shortId(p.peerId)} (${notes})\n${p.peerId}`
}

export function SwarmGraph ({ view }) {
  const peers = [...view.peers].sort((a, b) => (a.peerId < b.peerId ? -1 : 1))
  const distrusted = new Set(view.distrusted.map(d => d.peer))
  const pos = new Map()
  peers.forEach((p, i) => {
    // Start at the top, clockwise; a lone peer sits in the middle.
    const a = peers.length === 1 ? 0 : (i / peers.length) * 2 * Math.PI - Math.PI / 2
    const r = peers.length === 1 ? 0 : RING
    pos.set(p.peerId, { x: CENTRE + r * Math.cos(a), y: CENTRE + r * Math.sin(a), a })
  })
  const labels = peers.length <= MAX_LABELS
  return html`
    <svg data-testid="swarm-graph" class="swarm-graph" viewBox=${`${-MARGIN} 0 ${SIZE + 2 * MARGIN} ${SIZE}`} role="img"
      aria-label=${`${peers.length} peers, ${view.links.length} links`}>
      <g class="links">
        ${view.links.map(([a, b]) => {
          const pa = pos.get(a)
          const pb = pos.get(b)
          if (!pa || !pb) return null
          const toMaster = a === view.master || b === view.master
          return html`<line key=${`${a}|${b}`} class=${toMaster ? 'link link-master' : 'link'}
            x1=${pa.x} y1=${pa.y} x2=${pb.x} y2=${pb.y} />`
        })}
      </g>
      <g class="nodes">
        ${peers.map(p => {
          const { x, y, a } = pos.get(p.peerId)
          const master = p.peerId === view.master
          const r = master ? 22 : 13
          const cls = ['node', master && 'node-master', !p.alive && 'node-dead', distrusted.has(p.peerId) && 'node-distrusted', p.self && 'node-self']
            .filter(Boolean).join(' ')
          // Labels sit outside the ring, anchored away from the centre so they do not cross the links.
          const lx = peers.length === 1 ? x : x + Math.cos(a) * (r + 8)
          const ly = peers.length === 1 ? y + r + 16 : y + Math.sin(a) * (r + 8) + 4
          const anchor = peers.length === 1 || Math.abs(Math.cos(a)) < 0.3 ? 'middle' : Math.cos(a) > 0 ? 'start' : 'end'
          const dy = peers.length === 1 ? 0 : Math.sin(a) > 0.7 ? 8 : Math.sin(a) < -0.7 ? -4 : 0
          return html`
            <g key=${p.peerId} class=${cls} data-peer-id=${p.peerId}>
              <title>${tooltip(p)}</title>
              ${p.self && html`<circle class="self-ring" cx=${x} cy=${y} r=${r + 5} />`}
              <circle cx=${x} cy=${y} r=${r} />
              ${master && html`<text class="node-mark" x=${x} y=${y + 4} text-anchor="middle">M</text>`}
              ${labels && html`<text class="node-label" x=${lx} y=${ly + dy} text-anchor=${anchor}>${p.name || shortId(p.peerId)}</text>`}
            </g>`
        })}
      </g>
    </svg>`
}
