// Small pieces more than one page draws the same way.
import { html } from './html.js'
import { percent } from './format.js'

/** Only the bar and "42%" inside, so the element's text is the percentage (the ETA goes beside it). */
export function ProgressBar ({ done, total, state, testid }) {
  const pct = percent(done, total)
  return html`
    <div class=${`progress state-${state}`} data-testid=${testid} data-done=${done} data-total=${total}
      role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}>
      <span class="progress-track"><span class="progress-fill" style=${`width:${pct}%`}></span></span>
      <span class="progress-pct">${pct}%</span>
    </div>`
}

export function StateBadge ({ state, testid }) {
  return html`<span class=${`badge state-${state}`} data-testid=${testid} data-state=${state}>${state}</span>`
}

export function ErrorNote ({ error, children }) {
  if (!error && !children) return null
  return html`<p class="note note-error" role="alert">${error?.message ?? children}</p>`
}

export function Loading ({ what }) {
  return html`<p class="muted loading">Loading ${what}…</p>`
}
