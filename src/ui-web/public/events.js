// #/events: what happened in the swarm, newest first. Collected from page load on, whichever page is
// open, so the log is there when someone comes to look after a failover.
import { useState } from 'preact/hooks'
import { html } from './html.js'
import { createStore, useStore } from './store.js'
import { onJobEvent, onSwarmEvent, peerName, swarm } from './streams.js'
import { bytes, clock, shortId } from './format.js'
import { jobHref } from './jobs.js'

const CAP = 500
const KINDS = ['peer', 'master', 'job', 'tile', 'log']

/** entries: newest first; firstDispatches: tile events not listed (a tile's first dispatch, the usual case). */
export const eventLog = createStore({ entries: [], firstDispatches: 0 })

let seq = 0
/** The master lost in the last `master: null` event, so the next election reads as a failover from it. */
let lostMaster = null
let lastMaster = null

function add (kind, data, parts, level) {
  const entry = { id: ++seq, kind, at: data?.at ?? Date.now(), parts, level }
  eventLog.set(l => ({ ...l, entries: [entry, ...l.entries].slice(0, CAP) }))
}

/** The name known now is kept as a fallback: a peer that left may be gone from the swarm view later. */
function who (id, name) {
  const known = peerName(id)
  return { peer: id, name: name || (known !== id ? known : undefined) }
}
const job = id => ({ job: id })

function onSwarm (kind, d) {
  if (kind === 'peer') {
    if (d.type === 'joined') add('peer', d, [who(d.peerId, d.name), ' joined'])
    else add('peer', d, [who(d.peerId, d.name), ` left${d.reason ? `: ${d.reason}` : ''}`], 'warn')
  } else if (kind === 'master') {
    if (lastMaster && lastMaster.master === d.master && lastMaster.epoch === d.epoch) return
    const first = lastMaster == null
    lastMaster = { master: d.master, epoch: d.epoch }
    if (first && d.opening) {
      add('master', d, d.master == null ? [`No master yet (epoch ${d.epoch})`] : [who(d.master), ` is master (epoch ${d.epoch})`])
    } else if (d.master == null) {
      lostMaster = d.previous ?? lostMaster
      add('master', d, ['No master', d.previous ? [': ', who(d.previous), ' is gone'] : '', ` (epoch ${d.epoch}); electing a new one`], 'warn')
    } else if (lostMaster != null && lostMaster !== d.master) {
      add('master', d, ['Failover: ', who(d.master), ' took over from ', who(lostMaster), ` (epoch ${d.epoch})`])
    } else if (d.previous != null && d.previous !== d.master) {
      add('master', d, ['Master changed from ', who(d.previous), ' to ', who(d.master), ` (epoch ${d.epoch})`])
    } else {
      add('master', d, [who(d.master), ` elected master (epoch ${d.epoch})`])
    }
    if (d.master != null) lostMaster = null
  }
}

function onJobs (kind, d) {
  if (kind === 'tile') {
    if (d.attempt > 1 || d.speculative) {
      const how = d.speculative ? 'a speculative copy sent to ' : 'reassigned to '
      add('tile', d, [`Tile ${d.index} (phase ${d.phase + 1}) of `, job(d.jobId), `: ${how}`, who(d.peer), ` (attempt ${d.attempt})`])
    } else {
      eventLog.set(l => ({ ...l, firstDispatches: l.firstDispatches + 1 }))
    }
  } else if (kind === 'job') {
    if (d.type === 'accepted') {
      add('job', d, ['Job ', job(d.jobId), ` accepted: ${d.width}×${d.height}, ${d.tiles} tiles${d.phases > 1 ? ` × ${d.phases} phases` : ''}`])
    } else if (d.type === 'result') {
      add('job', d, ['Job ', job(d.jobId), ` done: ${d.format}, ${bytes(d.bytes)}`])
    } else if (d.type === 'failed') {
      // The server reports a cancel as a failure with this reason (CANCELLED_REASON).
      if (d.reason === 'cancelled') add('job', d, ['Job ', job(d.jobId), ' cancelled'])
      else add('job', d, ['Job ', job(d.jobId), ` failed: ${d.reason}`], 'error')
    }
  } else if (kind === 'log') {
    if (d.level === 'warn' || d.level === 'error') add('log', d, [d.msg], 'warn')
  }
}

/**
 * The swarm view says who is master too: its first one starts the log (so it is never empty), and a
 * change seen only there (its `master` event missed while the stream was down) is still logged.
 */
function onView ({ view }) {
  if (!view) return
  if (lastMaster && (lastMaster.epoch > view.epoch || (lastMaster.master === view.master && lastMaster.epoch === view.epoch))) return
  onSwarm('master', { master: view.master, epoch: view.epoch, previous: lastMaster?.master ?? null, at: Date.now(), opening: lastMaster == null })
}

let started = false
export function startEventLog () {
  if (started) return
  started = true
  onSwarmEvent(onSwarm)
  onJobEvent(onJobs)
  swarm.subscribe(onView)
}

/** Names are looked up when drawn, not when logged: a peer's name may arrive after its first event. */
function Part ({ part }) {
  if (part == null || part === '') return null
  if (Array.isArray(part)) return part.map((p, i) => html`<${Part} key=${i} part=${p} />`)
  if (typeof part === 'string') return part
  if (part.peer) {
    const now = peerName(part.peer)
    return html`<strong title=${part.peer}>${now !== part.peer ? now : part.name ?? shortId(part.peer)}</strong>`
  }
  if (part.job) return html`<a class="mono" href=${jobHref(part.job)} title=${part.job}>${shortId(part.job)}</a>`
  return null
}

export function EventsPage () {
  const { entries, firstDispatches } = useStore(eventLog)
  const [show, setShow] = useState('all')
  const shown = show === 'all' ? entries : entries.filter(e => e.kind === show)
  return html`
    <section class="page events-page">
      <div class="toolbar">
        <div class="chips" role="group" aria-label="Show">
          ${['all', ...KINDS].map(k => html`
            <button key=${k} type="button" class=${`chip${show === k ? ' chip-on' : ''}`} aria-pressed=${show === k ? 'true' : 'false'}
              onClick=${() => setShow(k)}>${k}</button>`)}
        </div>
        <span class="muted small" title="A tile's first dispatch is not listed: only reassignments and speculative copies are">
          ${firstDispatches} tile${firstDispatches === 1 ? '' : 's'} dispatched for the first time
        </span>
      </div>
      ${shown.length === 0
        ? html`<p class="empty">Nothing yet. Events appear here as they happen, from when this page was opened.</p>`
        : html`<ol class="event-list">
          ${shown.map(e => html`
            <li key=${e.id} class=${`event event-${e.kind}${e.level ? ` level-${e.level}` : ''}`} data-testid="event" data-kind=${e.kind}>
              <time datetime=${new Date(e.at).toISOString()}>${clock(e.at)}</time>
              <span class=${`kind kind-${e.kind}`}>${e.kind}</span>
              <span class="text"><${Part} part=${e.parts} /></span>
            </li>`)}
        </ol>`}
      ${entries.length >= CAP && html`<p class="muted small">Only the newest ${CAP} are kept.</p>`}
    </section>`
}
