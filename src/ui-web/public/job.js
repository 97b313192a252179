// #/jobs/<id>: one job, live: its progress, where its tiles are, a preview of the output so far.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { html } from './html.js'
import { postJSON, throttle, useFetched } from './api.js'
import { onJobEvent, swarm } from './streams.js'
import { useNow } from './store.js'
import { ErrorNote, Loading, ProgressBar, StateBadge } from './widgets.js'
import { TileLegend, TileMap } from './tilemap.js'
import { duration, eta, shortId, size, when } from './format.js'

/** The preview is re-encoded by the master on each request: once per this is plenty for a person. */
const PREVIEW_EVERY_MS = 1500
const PREVIEW_RETRIES = 8

export function JobPage ({ id }) {
  const base = `/api/jobs/${encodeURIComponent(id)}`
  const { data: job, error, reload } = useFetched(base)

  useEffect(() => onJobEvent((kind, d) => {
    if (kind === 'open' || ((kind === 'job' || kind === 'tile') && d?.jobId === id)) reload()
  }), [id, reload])

  if (!job) {
    if (error?.status === 404) {
      return html`<section class="page"><p class="empty" data-testid="job-page" data-job-id=${id}>
        The master knows no job <span class="mono">${id}</span>. <a href="#/jobs">All jobs</a></p></section>`
    }
    return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} what="the job" />`
  }
  return html`<${JobView} job=${job} base=${base} error=${error} reload=${reload} />`
}

function JobView ({ job, base, error, reload }) {
  const [mode, setMode] = useState('peer')
  const [cancelError, setCancelError] = useState(null)
  const [cancelling, setCancelling] = useState(false)
  const active = job.state === 'queued' || job.state === 'running'
  const now = useNow(active ? 1000 : 60_000)
  const view = swarm.get().view
  const nameOf = (peerId) => job.peerNames[peerId] ?? view?.peers.find(p => p.peerId === peerId)?.name ?? shortId(peerId)

  const cancel = async () => {
    if (!confirm(`Cancel job "${job.name || job.id}"?`)) return
    setCancelling(true)
    setCancelError(null)
    try {
      await postJSON(`${base}/cancel`)
      reload()
    } catch (err) {
      setCancelError(err)
    } finally {
      setCancelling(false)
    }
  }

  const end = job.finishedAt ?? (job.startedAt != null ? now : undefined)
  const took = job.startedAt != null && end != null ? end - job.startedAt : undefined
  return html`
    <section class="page job-page" data-testid="job-page" data-job-id=${job.id}>
      <div class="job-head">
        <div>
          <a class="back" href="#/jobs">← All jobs</a>
          <h1>${job.name || '(unnamed)'} <span class="muted mono small" title=${job.id}>${job.id}</span></h1>
        </div>
        <div class="actions">
          ${active && html`<button type="button" class="danger" data-testid="cancel" disabled=${cancelling} onClick=${cancel}>
            ${cancelling ? 'Cancelling…' : 'Cancel job'}</button>`}
          ${job.state === 'done' && html`<a class="button primary" data-testid="download" href=${`${base}/result`} download>
            Download ${job.format}</a>`}
        </div>
      </div>
      <${ErrorNote} error=${error} />
      <${ErrorNote} error=${cancelError} />
      ${job.state === 'failed' && job.failure && html`<p class="note note-error">Failed: ${job.failure}</p>`}
      ${job.waiting && html`<p class="note note-warn">Waiting: ${job.waiting}</p>`}

      <div class="job-status card">
        <div class="status-line">
          <${StateBadge} state=${job.state} testid="job-state" />
          ${job.phaseCount > 1 && html`<span>phase ${job.phase + 1}/${job.phaseCount}</span>`}
          <span class="muted">${job.done} of ${job.total} tiles</span>
          ${active && job.etaMs != null && html`<span class="eta">${eta(job.etaMs)}</span>`}
          ${job.state === 'queued' && job.queuePosition != null && html`<span class="muted">#${job.queuePosition + 1} in queue</span>`}
        </div>
        <${ProgressBar} done=${job.done} total=${job.total} state=${job.state} testid="job-progress" />
      </div>

      <div class="job-grid">
        <div class="card">
          <h2>Details</h2>
          <dl class="facts">
            <dt>Pipeline</dt><dd class="pipeline">${job.pipeline}</dd>
            <dt>Input</dt><dd>${job.name || '—'}</dd>
            <dt>Size</dt><dd>${size(job.width, job.height)}</dd>
            <dt>Format</dt><dd>${job.format}</dd>
            <dt>Tile size</dt><dd>${job.tileSize} px (${job.cols}×${job.rows} tiles)</dd>
            ${job.submitter && html`<dt>Submitted by</dt><dd>${job.submitter}</dd>`}
            <dt>Submitted</dt><dd>${when(job.submittedAt)}</dd>
            <dt>Started</dt><dd>${when(job.startedAt)}</dd>
            <dt>Finished</dt><dd>${when(job.finishedAt)}</dd>
            <dt>${active ? 'Running for' : 'Took'}</dt><dd>${duration(took)}</dd>
            <dt>Peers now</dt><dd>${job.peers.length ? job.peers.map(nameOf).join(', ') : '—'}</dd>
          </dl>
        </div>
        <${Preview} job=${job} base=${base} />
      </div>

      <div class="card">
        <div class="card-head">
          <h2>Tiles${job.phaseCount > 1 ? ` of phase ${job.phase + 1}` : ''}</h2>
          <div class="chips small" role="group" aria-label="Colour tiles by">
            ${['peer', 'state'].map(m => html`<button key=${m} type="button" class=${`chip${mode === m ? ' chip-on' : ''}`}
              aria-pressed=${mode === m ? 'true' : 'false'} onClick=${() => setMode(m)}>by ${m}</button>`)}
          </div>
        </div>
        <${TileMap} cells=${job.cells} cols=${job.cols} rows=${job.rows} mode=${mode} nameOf=${nameOf} />
        <${TileLegend} cells=${job.cells} mode=${mode} nameOf=${nameOf} peerNames=${job.peerNames} />
      </div>

      ${job.failures.length > 0 && html`<${Failures} failures=${job.failures} nameOf=${nameOf} />`}
    </section>`
}

/**
 * The stitched output so far. The URL changes (cache-busting) at most every PREVIEW_EVERY_MS while tiles
 * complete, and once more when the job is done so the last tiles show.
 */
function Preview ({ job, base }) {
  // Before any tile is done there is nothing to show, and asking would only log a 404.
  const started = job.done > 0 || job.phase > 0 || job.state === 'done'
  const fresh = () => `${base}/preview?v=${Date.now()}`
  // The src changes only here, so every request is counted by the throttle (the first one included).
  const [src, setSrc] = useState(() => started ? fresh() : undefined)
  const [missing, setMissing] = useState(false)
  const bump = useMemo(() => throttle(() => setSrc(fresh()), PREVIEW_EVERY_MS, started ? Date.now() : 0), [base])
  const seenState = useRef(job.state)
  useEffect(() => () => bump.cancel(), [bump])
  useEffect(() => { if (job.state === 'running' && started) bump() }, [job.done, job.phase, job.state, started, bump])
  useEffect(() => {
    const was = seenState.current
    seenState.current = job.state
    if (job.state === 'done' && was !== 'done') {
      bump.cancel()
      setSrc(fresh())
    }
  }, [job.state, bump])
  // A done job's preview is made from its output, which the master may still be fetching: a refusal then
  // is retried a few times, as no further event will come to prompt it.
  const retries = useRef(0)
  const retry = useRef(null)
  useEffect(() => () => clearTimeout(retry.current), [])
  const onError = () => {
    setMissing(true)
    if (job.state !== 'done' || retries.current >= PREVIEW_RETRIES) return
    retries.current++
    clearTimeout(retry.current)
    retry.current = setTimeout(() => setSrc(fresh()), Math.min(PREVIEW_EVERY_MS * retries.current, 5000))
  }
  const onLoad = () => { retries.current = 0; setMissing(false) }
  const none = missing || src == null
  return html`
    <div class="card preview-card">
      <h2>Preview</h2>
      <div class="preview-box">
        <img data-testid="preview" class=${none ? 'preview preview-missing' : 'preview'} alt=${`Preview of ${job.name}`}
          src=${src} onLoad=${onLoad} onError=${onError} />
        ${none && html`<p class="muted">${job.state === 'queued' ? 'No preview until tiles are done.' : 'No preview yet.'}</p>`}
      </div>
    </div>`
}

function Failures ({ failures, nameOf }) {
  return html`
    <div class="card">
      <h2>Tile failures</h2>
      <div class="table-wrap">
        <table class="data cards failures">
          <thead><tr><th>When</th><th class="num">Phase</th><th class="num">Tile</th><th>Peer</th><th>Reason</th></tr></thead>
          <tbody>
            ${[...failures].reverse().map((f, i) => html`
              <tr key=${i}>
                <td data-label="When">${when(f.at)}</td>
                <td data-label="Phase" class="num">${f.phase + 1}</td>
                <td data-label="Tile" class="num">${f.index}</td>
                <td data-label="Peer" title=${f.peer}>${nameOf(f.peer)}</td>
                <td data-label="Reason" class="reason">${f.reason}</td>
              </tr>`)}
          </tbody>
        </table>
      </div>
    </div>`
}
