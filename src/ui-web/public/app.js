// The shell: header, nav and a hash router. Hash routes because the server serves one page for `/`,
// and the back button and reloads work with no server-side routing.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { html } from './html.js'
import { useStore } from './store.js'
import { live, startStreams, swarm } from './streams.js'
import { EventsPage, startEventLog } from './events.js'
import { PeersPage } from './peers.js'
import { JobsPage } from './jobs.js'
import { JobPage } from './job.js'
import { SubmitPage } from './submit.js'
import { shortId } from './format.js'

const TABS = [
  { id: 'peers', label: 'Peers', href: '#/peers' },
  { id: 'jobs', label: 'Jobs', href: '#/jobs' },
  { id: 'submit', label: 'Submit', href: '#/submit' },
  { id: 'events', label: 'Events', href: '#/events' }
]

function parseHash () {
  const raw = location.hash.replace(/^#\/?/, '')
  const [path, qs = ''] = raw.split('?')
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent)
  return { parts, query: new URLSearchParams(qs), key: path }
}

function useRoute () {
  const [route, setRoute] = useState(parseHash)
  useEffect(() => {
    const on = () => { setRoute(parseHash()); window.scrollTo(0, 0) }
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return route
}

function pageFor ({ parts, query }) {
  const [first = 'peers', second] = parts
  if (first === 'peers' && !second) return { tab: 'peers', title: 'Peers', view: html`<${PeersPage} />` }
  if (first === 'jobs' && second) return { tab: 'jobs', title: `Job ${second}`, view: html`<${JobPage} id=${second} />` }
  if (first === 'jobs') return { tab: 'jobs', title: 'Jobs', view: html`<${JobsPage} query=${query} />` }
  if (first === 'submit') return { tab: 'submit', title: 'Submit', view: html`<${SubmitPage} />` }
  if (first === 'events') return { tab: 'events', title: 'Events', view: html`<${EventsPage} />` }
  return { tab: null, title: 'Not found', view: html`<section class="page"><p class="empty">No page here. <a href="#/peers">Go to the peers</a>.</p></section>` }
}

function Header () {
  const { view } = useStore(swarm)
  const { swarm: a, jobs: b } = useStore(live)
  const isLive = a && b
  const self = view?.self ?? ''
  const master = view?.master ?? ''
  const nameOf = id => view?.peers.find(p => p.peerId === id)?.name || shortId(id)
  return html`
    <header class="top">
      <a class="brand" href="#/peers">swarm</a>
      <span class="served-by" data-testid="served-by" data-peer-id=${self} title=${self}>
        served by <strong>${self ? nameOf(self) : '…'}</strong>
      </span>
      <span class="header-master">
        master <strong data-testid="master-id" data-peer-id=${master} title=${master}>${master ? nameOf(master) : view ? 'none' : '…'}</strong>
        ${view && html`<span class="muted"> · epoch ${view.epoch}</span>`}
      </span>
      <span class=${`live ${isLive ? 'live-on' : 'live-off'}`} data-testid="live-indicator" data-live=${isLive ? 'true' : 'false'}
        title=${isLive ? 'Receiving live updates' : 'The event stream dropped; reconnecting'} role="status">
        <i class="live-dot"></i>${isLive ? 'live' : 'reconnecting…'}
      </span>
      <form class="logout" method="post" action="/logout">
        <button type="submit" class="link">log out</button>
      </form>
    </header>`
}

function App () {
  const route = useRoute()
  const page = pageFor(route)
  useEffect(() => { document.title = `${page.title} · swarm` }, [page.title])
  return html`
    <${Header} />
    <nav class="tabs" aria-label="Pages">
      ${TABS.map(t => html`
        <a key=${t.id} href=${t.href} data-testid=${`tab-${t.id}`} class=${page.tab === t.id ? 'tab tab-on' : 'tab'}
          aria-current=${page.tab === t.id ? 'page' : undefined}>${t.label}</a>`)}
    </nav>
    <main key=${route.key}>${page.view}</main>`
}

startEventLog()
startStreams()
const root = document.getElementById('app')
// render() adds to what is there: the "Loading" text must go first.
root.textContent = ''
render(html`<${App} />`, root)
