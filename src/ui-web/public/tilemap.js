// The tile grid of a job's current phase: one cell per tile, coloured by its state or by the peer
// that holds or did it.
import { useEffect, useRef } from 'preact/hooks'
import { html } from './html.js'
import { peerColour, shortId } from './format.js'

/**
 * Past this many cells the grid is drawn on a canvas: tens of thousands of elements (small tiles on a
 * big image) would make every refresh crawl, and the cells are too small to point at one by one anyway.
 */
const MAX_DOM_CELLS = 4096

const STATE_COLOURS = { queued: '#dde1e7', leased: '#f0a531', done: '#2f9e5b' }
const UNKNOWN_PEER = '#6b7280'

function fillOf (cell, mode) {
  if (mode === 'state' || cell.state === 'queued') return STATE_COLOURS[cell.state] ?? STATE_COLOURS.queued
  return cell.peer ? peerColour(cell.peer) : UNKNOWN_PEER
}

export function tileTitle (i, cell, nameOf) {
  const who = cell.peer ? nameOf(cell.peer) : 'an unknown peer'
  const retry = cell.attempt > 1 ? ` (attempt ${cell.attempt})` : ''
  if (cell.state === 'done') return `tile ${i}: done by ${who}${retry}`
  if (cell.state === 'leased') return `tile ${i}: on ${who}${retry}`
  return `tile ${i}: queued`
}

export function TileMap ({ cells, cols, rows, mode, nameOf }) {
  if (cells.length > MAX_DOM_CELLS) return html`<${TileCanvas} cells=${cells} cols=${cols} rows=${rows} mode=${mode} nameOf=${nameOf} />`
  // Wide grids get small cells; a narrow one should not stretch to full width with huge squares.
  const maxWidth = `min(100%, ${Math.max(cols * 40, 160)}px)`
  return html`
    <div class=${`tile-map mode-${mode}`} data-testid="tile-map" data-cols=${cols} data-rows=${rows}
      style=${`grid-template-columns:repeat(${cols},minmax(0,1fr));max-width:${maxWidth}`}>
      ${cells.map((c, i) => html`
        <div key=${i} class=${`tile tile-${c.state}${c.attempt > 1 ? ' tile-retry' : ''}`} data-testid="tile" data-state=${c.state}
          data-peer=${c.peer} title=${tileTitle(i, c, nameOf)} style=${`--fill:${fillOf(c, mode)}`}></div>`)}
    </div>`
}

function TileCanvas ({ cells, cols, rows, mode, nameOf }) {
  const ref = useRef(null)
  const cell = Math.max(2, Math.min(12, Math.floor(1200 / cols)))
  useEffect(() => {
    const ctx = ref.current.getContext('2d')
    ctx.clearRect(0, 0, cols * cell, rows * cell)
    cells.forEach((c, i) => {
      ctx.fillStyle = fillOf(c, mode)
      // Leased tiles are drawn lighter, as the grid's striped cells are: not done yet.
      ctx.globalAlpha = c.state === 'leased' && mode === 'peer' ? 0.5 : 1
      const gap = cell > 4 ? 1 : 0
      ctx.fillRect((i % cols) * cell, Math.floor(i / cols) * cell, cell - gap, cell - gap)
    })
    ctx.globalAlpha = 1
  }, [cells, cols, rows, mode, cell])
  const onMove = (e) => {
    const r = e.currentTarget.getBoundingClientRect()
    const x = Math.floor(((e.clientX - r.left) / r.width) * cols)
    const y = Math.floor(((e.clientY - r.top) / r.height) * rows)
    const i = y * cols + x
    e.currentTarget.title = cells[i] ? tileTitle(i, cells[i], nameOf) : ''
  }
  return html`
    <canvas ref=${ref} class="tile-canvas" data-testid="tile-map" data-cols=${cols} data-rows=${rows}
      width=${cols * cell} height=${rows * cell} onMouseMove=${onMove}
      aria-label=${`${cells.length} tiles`}></canvas>`
}

export function TileLegend ({ cells, mode, nameOf, peerNames }) {
  if (mode === 'state') {
    const n = { queued: 0, leased: 0, done: 0 }
    for (const c of cells) n[c.state] = (n[c.state] ?? 0) + 1
    return html`<ul class="legend">${Object.keys(STATE_COLOURS).map(s => html`
      <li key=${s}><i class="swatch" style=${`background:${STATE_COLOURS[s]}`}></i>${s} <span class="muted">${n[s] ?? 0}</span></li>`)}</ul>`
  }
  const per = new Map()
  for (const c of cells) {
    if (c.state === 'queued' || !c.peer) continue
    const e = per.get(c.peer) ?? { done: 0, leased: 0 }
    e[c.state]++
    per.set(c.peer, e)
  }
  const ids = [...per.keys()].sort((a, b) => nameOf(a).localeCompare(nameOf(b)))
  if (ids.length === 0) return html`<p class="legend muted small">No tile has gone to a peer yet.</p>`
  return html`
    <ul class="legend">
      ${ids.map(id => html`
        <li key=${id} title=${id}><i class="swatch" style=${`background:${peerColour(id)}`}></i>${peerNames[id] ?? shortId(id)}${' '}
          <span class="muted">${per.get(id).done} done${per.get(id).leased ? `, ${per.get(id).leased} running` : ''}</span></li>`)}
      ${cells.some(c => c.state === 'leased') && html`<li><i class="swatch swatch-leased"></i><span class="muted">striped: running</span></li>`}
      ${cells.some(c => c.attempt > 1) && html`<li><i class="swatch swatch-retry"></i><span class="muted">outlined: reassigned</span></li>`}
    </ul>`
}
