// The two event streams every page shares, opened once by app.js. One EventSource each, whatever the
// page: browsers allow only six HTTP/1.1 connections per server, and each open stream holds one.
import { getJSON, openStream, throttle } from './api.js'
import { createStore } from './store.js'
import { setPeerOrder } from './format.js'

/** The latest SwarmView, when it came (lastSeenMsAgo ages from then), and why it is missing if it is. */
export const swarm = createStore({ view: null, at: 0, error: null })
export const live = createStore({ swarm: false, jobs: false })

const swarmListeners = new Set()
const jobListeners = new Set()

/** fn(kind, data) for 'peer' and 'master' events of /api/events. */
export function onSwarmEvent (fn) {
  swarmListeners.add(fn)
  return () => swarmListeners.delete(fn)
}

/** fn(kind, data) for 'job', 'tile' and 'log' of /api/jobs/events, and ('open') after each (re)connect. */
export function onJobEvent (fn) {
  jobListeners.add(fn)
  return () => jobListeners.delete(fn)
}

function emit (set, kind, data) {
  for (const fn of set) {
    try { fn(kind, data) } catch (err) { console.error(err) }
  }
}

const refreshSwarm = throttle(() => {
  getJSON('/api/swarm').then(
    view => { setPeerOrder(view.peers.map(p => p.peerId)); swarm.set({ view, at: Date.now(), error: null }) },
    error => swarm.set(s => ({ ...s, error }))
  )
}, 500)

export function peerName (peerId) {
  if (peerId == null) return ''
  const p = swarm.get().view?.peers.find(p => p.peerId === peerId)
  return p?.name || peerId
}

let started = false

export function startStreams () {
  if (started) return
  started = true
  refreshSwarm()
  let jobs = null
  openStream('/api/events', {
    events: {
      swarm: view => { setPeerOrder(view.peers.map(p => p.peerId)); swarm.set({ view, at: Date.now(), error: null }) },
      master: d => {
        // Listeners first: the event log words a change better from this event than from the view.
        emit(swarmListeners, 'master', d)
        // The header shows the new master at once; the full view follows in a `swarm` event.
        swarm.set(s => s.view ? { ...s, view: { ...s.view, master: d.master, epoch: d.epoch } } : s)
        // The job stream lives on the master: with a new one elected it can come back now.
        if (d.master != null) jobs?.retryNow()
      },
      peer: d => emit(swarmListeners, 'peer', d)
    },
    onState: open => live.set(l => ({ ...l, swarm: open })),
    onOpen: refreshSwarm
  })
  jobs = openStream('/api/jobs/events', {
    events: {
      job: d => emit(jobListeners, 'job', d),
      tile: d => emit(jobListeners, 'tile', d),
      log: d => emit(jobListeners, 'log', d)
    },
    onState: open => live.set(l => ({ ...l, jobs: open })),
    onOpen: () => emit(jobListeners, 'open', null)
  })
}
