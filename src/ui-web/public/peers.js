// #/peers: who is in the swarm, who leads it, and how loaded each peer is.
import { html } from './html.js'
import { useNow, useStore } from './store.js'
import { swarm } from './streams.js'
import { SwarmGraph } from './graph.js'
import { ErrorNote, Loading } from './widgets.js'
import { ago, bytes, shortId } from './format.js'

export function PeersPage () {
  const { view, at, error } = useStore(swarm)
  // lastSeenMsAgo was true when the view arrived; ticking keeps it honest until the next one.
  const now = useNow(1000)
  if (!view) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} what="the swarm" />`
  const since = Math.max(0, now - at)
  const master = view.peers.find(p => p.peerId === view.master)
  const alive = view.peers.filter(p => p.alive)
  const slots = alive.reduce((n, p) => n + p.load.freeSlots + p.load.busyTiles, 0)
  const busy = alive.reduce((n, p) => n + p.load.busyTiles, 0)
  const distrustReason = new Map(view.distrusted.map(d => [d.peer, d.reason]))
  const nameOf = id => view.peers.find(p => p.peerId === id)?.name || shortId(id)
  return html`
    <section class="page peers-page">
      <${ErrorNote} error=${error} />
      <div class="summary">
        <div class=${`master-card${view.master ? '' : ' no-master'}`}>
          <span class="label">Master</span>
          ${view.master
            ? html`<strong class="master-name" title=${view.master}>${master?.name || shortId(view.master)}</strong>
                <span class="muted mono">${shortId(view.master)}</span>`
            : html`<strong class="master-name">none</strong><span class="muted">an election is under way</span>`}
          <span class="muted">epoch ${view.epoch}</span>
        </div>
        <div class="stat"><span class="label">Peers</span><strong>${alive.length}</strong><span class="muted">alive of ${view.peers.length}</span></div>
        <div class="stat"><span class="label">Slots</span><strong>${busy} / ${slots}</strong><span class="muted">tiles busy</span></div>
      </div>

      <div class="table-wrap">
        <table class="data peers cards">
          <thead><tr>
            <th>Name</th><th>PeerId</th><th>Role</th><th class="num">Epoch</th><th>Arch</th><th>Platform</th>
            <th class="num">Cores</th><th class="num">Slots</th><th class="num">Busy</th><th class="num">Tiles/s</th>
            <th class="num">Free mem</th><th>Version</th><th>Last seen</th><th>Alive</th>
          </tr></thead>
          <tbody>
            ${view.peers.map(p => {
              const isMaster = p.peerId === view.master
              const cls = [isMaster && 'is-master', !p.alive && 'is-dead', distrustReason.has(p.peerId) && 'is-distrusted'].filter(Boolean).join(' ')
              return html`
                <tr key=${p.peerId} data-testid="peer-row" data-peer-id=${p.peerId} data-role=${p.role} class=${cls}>
                  <td data-label="Name" class="primary">
                    <strong>${p.name || '(unnamed)'}</strong>
                    ${p.self && html` <span class="tag">this peer</span>`}
                    ${distrustReason.has(p.peerId) && html` <span class="tag tag-bad" title=${distrustReason.get(p.peerId)}>distrusted</span>`}
                  </td>
                  <td data-label="PeerId" class="mono" title=${p.peerId}>${shortId(p.peerId)}</td>
                  <td data-label="Role"><span class=${p.alive ? `role role-${p.role}` : 'role role-gone'}>${p.alive ? p.role : `gone (was ${p.role})`}</span></td>
                  <td data-label="Epoch" class="num">${p.epoch}</td>
                  <td data-label="Arch">${p.arch}</td>
                  <td data-label="Platform">${p.platform}</td>
                  <td data-label="Cores" class="num">${p.load.cores}</td>
                  <td data-label="Slots" class="num">${p.load.freeSlots + p.load.busyTiles}</td>
                  <td data-label="Busy tiles" class="num">${p.load.busyTiles}</td>
                  <td data-label="Tiles/s" class="num">${p.load.tileSpeed.toFixed(2)}</td>
                  <td data-label="Free memory" class="num">${bytes(p.load.freeMem)}</td>
                  <td data-label="Version">${p.version}</td>
                  <td data-label="Last seen">${p.self ? 'now' : ago(p.lastSeenMsAgo + since)}</td>
                  <td data-label="Alive"><span class=${p.alive ? 'dot dot-ok' : 'dot dot-bad'}></span>${p.alive ? 'yes' : 'no'}</td>
                </tr>`
            })}
          </tbody>
        </table>
      </div>

      <div class="graph-row">
        <figure class="card graph-card">
          <${SwarmGraph} view=${view} />
          <figcaption class="legend">
            <span><i class="swatch swatch-master"></i>master</span>
            <span><i class="swatch swatch-peer"></i>peer</span>
            <span><i class="swatch swatch-dead"></i>not heard from</span>
            <span><i class="swatch swatch-self"></i>serving this page</span>
            <span><i class="swatch swatch-distrusted"></i>distrusted</span>
          </figcaption>
        </figure>
        <div class="card distrusted">
          <h2>Distrusted peers</h2>
          ${view.distrusted.length === 0
            ? html`<p class="muted">None: no peer's results have been outvoted.</p>`
            : html`<ul>${view.distrusted.map(d => html`
                <li key=${d.peer}><strong title=${d.peer}>${nameOf(d.peer)}</strong> <span class="muted mono">${shortId(d.peer)}</span><br />${d.reason}</li>`)}
              </ul>`}
          <p class="muted small">The master gives these peers no tiles.</p>
        </div>
      </div>
    </section>`
}
