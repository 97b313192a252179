// #/jobs: every job the master keeps, filtered by state and text, refreshed as job events arrive.
import { useEffect, useState } from 'preact/hooks'
import { html } from './html.js'
import { useFetched } from './api.js'
import { onJobEvent } from './streams.js'
import { ErrorNote, Loading, ProgressBar, StateBadge } from './widgets.js'
import { eta, shortId, size, when } from './format.js'

export const STATES = ['queued', 'running', 'done', 'failed', 'cancelled']
const LIMIT = 200
/** Long enough that typing a word sends one query, short enough to feel immediate. */
const SEARCH_DELAY_MS = 250

export function jobHref (id) {
  return `#/jobs/${encodeURIComponent(id)}`
}

/** The filter lives in the address too, so Back from a job returns to the same list. */
function remember (state, q) {
  const qs = new URLSearchParams()
  if (state !== 'all') qs.set('state', state)
  if (q) qs.set('q', q)
  const s = qs.toString()
  history.replaceState(null, '', `#/jobs${s ? `?${s}` : ''}`)
}

export function JobsPage ({ query }) {
  const [state, setState] = useState(STATES.includes(query.get('state')) ? query.get('state') : 'all')
  const [text, setText] = useState(query.get('q') ?? '')
  const [q, setQ] = useState(text.trim())

  useEffect(() => {
    const t = setTimeout(() => setQ(text.trim()), SEARCH_DELAY_MS)
    return () => clearTimeout(t)
  }, [text])
  useEffect(() => remember(state, q), [state, q])

  const params = new URLSearchParams({ limit: String(LIMIT) })
  if (state !== 'all') params.set('state', state)
  if (q) params.set('q', q)
  const { data, error, loading, reload } = useFetched(`/api/jobs?${params}`)

  useEffect(() => onJobEvent(kind => { if (kind === 'job' || kind === 'open') reload() }), [reload])

  const counts = data?.counts ?? {}
  const all = STATES.reduce((n, s) => n + (counts[s] ?? 0), 0)
  return html`
    <section class="page jobs-page">
      <div class="toolbar">
        <div class="chips" role="group" aria-label="Filter by state">
          ${['all', ...STATES].map(s => html`
            <button key=${s} type="button" class=${`chip${state === s ? ' chip-on' : ''}`} data-testid="job-filter" data-state=${s}
              aria-pressed=${state === s ? 'true' : 'false'} onClick=${() => setState(s)}>
              ${s} <span class="chip-count">${data ? (s === 'all' ? all : counts[s] ?? 0) : '…'}</span>
            </button>`)}
        </div>
        <input class="search" type="search" data-testid="job-search" placeholder="Search id, name, pipeline"
          aria-label="Search jobs" value=${text} onInput=${e => setText(e.currentTarget.value)} />
      </div>
      <${ErrorNote} error=${error} />
      ${!data && loading && html`<${Loading} what="jobs" />`}
      ${data && html`<${JobsTable} jobs=${data.jobs} filtered=${state !== 'all' || q !== ''} />`}
      ${data && data.jobs.length >= LIMIT && html`<p class="muted small">Showing the newest ${LIMIT}; narrow the search to see others.</p>`}
    </section>`
}

function JobsTable ({ jobs, filtered }) {
  if (jobs.length === 0) {
    return html`<p class="empty">${filtered ? 'No jobs match.' : html`No jobs yet. <a href="#/submit">Submit one</a>.`}</p>`
  }
  return html`
    <div class="table-wrap">
      <table class="data jobs cards">
        <thead><tr>
          <th>Name</th><th>Id</th><th>State</th><th class="progress-col">Progress</th><th>Size</th>
          <th>Pipeline</th><th>Submitted</th><th class="num">Peers</th>
        </tr></thead>
        <tbody>
          ${jobs.map(j => html`
            <tr key=${j.id} class="clickable" data-testid="job-row" data-job-id=${j.id} data-state=${j.state}
              onClick=${e => { if (!e.target.closest('a')) location.hash = jobHref(j.id) }}>
              <td data-label="Name" class="primary"><a href=${jobHref(j.id)}>${j.name || '(unnamed)'}</a></td>
              <td data-label="Id" class="mono" title=${j.id}>${shortId(j.id)}</td>
              <td data-label="State"><${StateBadge} state=${j.state} /></td>
              <td data-label="Progress" class="progress-col">
                <${ProgressBar} done=${j.done} total=${j.total} state=${j.state} />
                <span class="muted small">${rowNote(j)}</span>
              </td>
              <td data-label="Size">${size(j.width, j.height)}</td>
              <td data-label="Pipeline" class="pipeline">${j.pipeline}</td>
              <td data-label="Submitted">${when(j.submittedAt)}</td>
              <td data-label="Peers" class="num">${j.peers.length}</td>
            </tr>`)}
        </tbody>
      </table>
    </div>`
}

function rowNote (j) {
  if (j.state === 'queued') {
    const pos = j.queuePosition != null ? `#${j.queuePosition + 1} in queue` : 'in queue'
    return j.etaMs != null ? `${pos}, ${eta(j.etaMs)}` : pos
  }
  if (j.state === 'running') {
    if (j.waiting) return 'waiting'
    const phase = j.phaseCount > 1 ? `phase ${j.phase + 1}/${j.phaseCount}` : ''
    return [phase, eta(j.etaMs)].filter(Boolean).join(', ')
  }
  if (j.state === 'failed' && j.failure) return j.failure
  return ''
}
