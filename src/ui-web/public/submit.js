// #/submit: images, a pipeline built from the op catalogue, output options. The same checks the server
// makes on parameters are made here first, so a typo is caught before a large upload, not after it.
import { useRef, useState } from 'preact/hooks'
import { html } from './html.js'
import { upload, useFetched } from './api.js'
import { ErrorNote, Loading } from './widgets.js'
import { bytes, percent } from './format.js'
import { jobHref } from './jobs.js'

const FORMATS = ['png', 'jpeg', 'webp', 'tiff', 'avif', 'gif']
const MAX_OPS = 32
const TILE_MIN = 16
const TILE_MAX = 4096
/** The names the server's colour parameters take, besides #rrggbb and #rgb. */
const NAMED_COLOURS = { black: '#000000', white: '#ffffff', red: '#ff0000', green: '#00ff00', blue: '#0000ff', yellow: '#ffff00', cyan: '#00ffff', magenta: '#ff00ff', orange: '#ff8000', grey: '#808080', gray: '#808080' }

let nextKey = 1

function newCard (op) {
  return { key: nextKey++, name: op.name, values: Object.fromEntries(op.params.map(p => [p.name, String(p.default)])) }
}

/** The #rrggbb an <input type=color> can show for what the text box holds, if it can show it. */
function colourHex (v) {
  const s = v.trim().toLowerCase()
  if (Object.hasOwn(NAMED_COLOURS, s)) return NAMED_COLOURS[s]
  const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/.exec(s)
  if (!m) return null
  return `#${m[1].length === 3 ? [...m[1]].map(c => c + c).join('') : m[1]}`
}

/** The value to send, or an error sentence worded as the server's ("blur: parameter "sigma" is 500, expected …"). */
function checkParam (op, p, raw) {
  const text = raw.trim()
  const bad = () => ({ error: `${op}: parameter "${p.name}" is ${text === '' ? 'empty' : text}, expected ${p.accepts}` })
  if (p.type === 'number' || p.type === 'integer') {
    const n = Number(text)
    if (text === '' || !Number.isFinite(n)) return bad()
    if (p.type === 'integer' && !Number.isInteger(n)) return bad()
    if ((p.min != null && n < p.min) || (p.max != null && n > p.max)) return bad()
    return { value: n }
  }
  if (p.type === 'enum') return p.values?.includes(text) ? { value: text } : bad()
  if (p.type === 'colour') return colourHex(text) ? { value: text } : bad()
  return { value: text }
}

export function SubmitPage () {
  const { data: ops, error: opsError } = useFetched('/api/ops', 0)
  if (!ops) return opsError ? html`<${ErrorNote} error=${opsError} />` : html`<${Loading} what="the operations" />`
  return html`<${SubmitForm} ops=${ops} />`
}

function SubmitForm ({ ops }) {
  const byName = new Map(ops.map(o => [o.name, o]))
  const fileRef = useRef(null)
  const [files, setFiles] = useState([])
  const [pick, setPick] = useState(ops[0]?.name ?? '')
  const [cards, setCards] = useState([])
  const [format, setFormat] = useState('')
  const [tileSize, setTileSize] = useState('')
  const [errors, setErrors] = useState({})
  const [formError, setFormError] = useState(null)
  const [sending, setSending] = useState(null)

  const clearError = (field) => setErrors(e => {
    if (!(field in e)) return e
    const { [field]: _, ...rest } = e
    return rest
  })
  // Errors on ops are named by index: once the cards move, those names point at other cards.
  const dropOpErrors = () => setErrors(e => Object.fromEntries(Object.entries(e).filter(([k]) => !k.startsWith('ops.'))))

  const add = () => {
    const op = byName.get(pick)
    if (!op) return
    setCards(c => [...c, newCard(op)])
    clearError('pipeline')
  }
  const remove = (i) => { dropOpErrors(); setCards(c => c.filter((_, j) => j !== i)) }
  const move = (i, by) => {
    dropOpErrors()
    setCards(c => {
      const j = i + by
      if (j < 0 || j >= c.length) return c
      const next = [...c]
      ;[next[i], next[j]] = [next[j], next[i]]
      return next
    })
  }
  const setValue = (i, param, value) => {
    setCards(c => c.map((card, j) => j === i ? { ...card, values: { ...card.values, [param]: value } } : card))
    clearError(`ops.${i}.${param}`)
  }

  /** Field names the form shows an error beside; any other goes to the top of the form. */
  const knownField = (field) => {
    if (['image', 'pipeline', 'format', 'tileSize'].includes(field)) return true
    const m = /^ops\.(\d+)(?:\.(.+))?$/.exec(field)
    if (!m) return false
    const card = cards[Number(m[1])]
    return card != null && (m[2] == null || m[2] in card.values)
  }

  const showErrors = (found) => {
    setErrors(found)
    // On a phone the first bad field may be far above the button.
    requestAnimationFrame(() => {
      const el = document.querySelector('[data-testid="field-error"]')
      el?.scrollIntoView({ block: 'center', behavior: 'smooth' })
    })
  }

  const onSubmit = async (e) => {
    e.preventDefault()
    setFormError(null)
    const found = {}
    const chosen = [...(fileRef.current?.files ?? [])]
    if (chosen.length === 0) found.image = 'Choose at least one image'
    if (cards.length === 0) found.pipeline = 'a pipeline needs at least one op'
    if (cards.length > MAX_OPS) found.pipeline = `a pipeline has at most ${MAX_OPS} ops, got ${cards.length}`
    const pipeline = { ops: cards.map((card, i) => {
      const op = byName.get(card.name)
      const params = {}
      for (const p of op.params) {
        const r = checkParam(card.name, p, card.values[p.name] ?? '')
        if (r.error) found[`ops.${i}.${p.name}`] = r.error
        else params[p.name] = r.value
      }
      return { name: card.name, params }
    }) }
    const tile = tileSize.trim()
    if (tile !== '') {
      const n = Number(tile)
      if (!Number.isInteger(n) || n < TILE_MIN || n > TILE_MAX) found.tileSize = `tile size is ${tile}, expected an integer between ${TILE_MIN} and ${TILE_MAX}`
    }
    if (Object.keys(found).length) return showErrors(found)

    const body = new FormData()
    for (const f of chosen) body.append('image', f)
    body.append('pipeline', JSON.stringify(pipeline))
    if (format) body.append('format', format)
    if (tile !== '') body.append('tileSize', tile)

    const total = chosen.reduce((n, f) => n + f.size, 0)
    setSending({ loaded: 0, total })
    setErrors({})
    try {
      const reply = await upload('/api/jobs', body, (loaded, t) => setSending({ loaded, total: t }))
      const first = reply?.jobs?.[0]
      if (first) location.hash = jobHref(first.jobId)
      else location.hash = '#/jobs'
    } catch (err) {
      setSending(null)
      if (err.status === 401) return
      if (err.field && knownField(err.field)) showErrors({ [err.field]: err.message })
      else setFormError(err.message)
    }
  }

  return html`
    <section class="page submit-page">
      <h1>Submit images</h1>
      <form class="submit-form" novalidate onSubmit=${onSubmit}>
        ${formError && html`<p class="note note-error" role="alert" data-testid="form-error">${formError}</p>`}

        <fieldset class="card">
          <legend>Images</legend>
          <input ref=${fileRef} type="file" name="image" data-testid="submit-file" multiple accept="image/*"
            aria-invalid=${errors.image ? 'true' : undefined}
            onChange=${e => { setFiles([...e.currentTarget.files]); clearError('image') }} />
          <${FieldError} field="image" errors=${errors} />
          ${files.length > 0 && html`<ul class="files">${files.map(f => html`<li key=${f.name}>${f.name} <span class="muted">${bytes(f.size)}</span></li>`)}</ul>`}
          <p class="hint">Each image becomes its own job, with the same pipeline.</p>
        </fieldset>

        <fieldset class="card">
          <legend>Pipeline</legend>
          ${cards.length === 0 && html`<p class="muted">No operations yet: pick one below and add it. They run in order, top first.</p>`}
          <ol class="op-cards">
            ${cards.map((card, i) => html`
              <${OpCard} key=${card.key} card=${card} index=${i} count=${cards.length} op=${byName.get(card.name)}
                errors=${errors} onValue=${setValue} onRemove=${remove} onMove=${move} />`)}
          </ol>
          <div class="add-op">
            <label class="sr-only" for="add-op-select">Operation</label>
            <select id="add-op-select" data-testid="add-op-select" value=${pick} onChange=${e => setPick(e.currentTarget.value)}>
              ${ops.map(o => html`<option key=${o.name} value=${o.name}>${o.name}</option>`)}
            </select>
            <button type="button" data-testid="add-op" onClick=${add} disabled=${cards.length >= MAX_OPS}>Add</button>
          </div>
          <p class="hint">${byName.get(pick)?.description}</p>
          <${FieldError} field="pipeline" errors=${errors} />
        </fieldset>

        <fieldset class="card options">
          <legend>Output</legend>
          <label>
            <span>Format</span>
            <select name="format" data-testid="format" value=${format} onChange=${e => { setFormat(e.currentTarget.value); clearError('format') }}>
              <option value="">same as the input</option>
              ${FORMATS.map(f => html`<option key=${f} value=${f}>${f}</option>`)}
            </select>
            <${FieldError} field="format" errors=${errors} />
          </label>
          <label>
            <span>Tile size (px)</span>
            <input type="number" name="tileSize" data-testid="tile-size" min=${TILE_MIN} max=${TILE_MAX} step="1" placeholder="automatic"
              inputmode="numeric" value=${tileSize} onInput=${e => { setTileSize(e.currentTarget.value); clearError('tileSize') }} />
            <span class="hint">Optional: an integer between ${TILE_MIN} and ${TILE_MAX}.</span>
            <${FieldError} field="tileSize" errors=${errors} />
          </label>
        </fieldset>

        <datalist id="colour-names">${Object.keys(NAMED_COLOURS).map(c => html`<option key=${c} value=${c} />`)}</datalist>
        <div class="submit-row">
          <button type="submit" class="primary" data-testid="submit-button" disabled=${sending != null}>
            ${sending ? 'Uploading…' : files.length > 1 ? `Submit ${files.length} jobs` : 'Submit'}
          </button>
          ${sending && html`<${UploadProgress} sending=${sending} />`}
        </div>
      </form>
    </section>`
}

function UploadProgress ({ sending }) {
  const pct = percent(sending.loaded, sending.total)
  const sent = sending.total > 0 && sending.loaded >= sending.total
  return html`
    <div class="upload-progress" role="status">
      <span class="progress-track"><span class="progress-fill" style=${`width:${pct}%`}></span></span>
      <span class="muted small">${sent ? 'Uploaded; waiting for the master to accept…' : `${bytes(sending.loaded)} of ${bytes(sending.total)} (${pct}%)`}</span>
    </div>`
}

function FieldError ({ field, errors }) {
  const msg = errors[field]
  if (!msg) return null
  return html`<p class="field-error" data-testid="field-error" data-field=${field} role="alert">${msg}</p>`
}

function OpCard ({ card, index, count, op, errors, onValue, onRemove, onMove }) {
  return html`
    <li class="op-card" data-testid="op-card" data-op=${card.name}>
      <div class="op-head">
        <span class="op-index">${index + 1}</span>
        <div class="op-title">
          <strong>${card.name}</strong>
          <span class="muted small">${op?.description}${op?.global ? ' (uses statistics of the whole image)' : ''}</span>
        </div>
        <div class="op-buttons">
          <button type="button" class="icon" title="Move up" aria-label=${`Move ${card.name} up`} disabled=${index === 0} onClick=${() => onMove(index, -1)}>↑</button>
          <button type="button" class="icon" title="Move down" aria-label=${`Move ${card.name} down`} disabled=${index === count - 1} onClick=${() => onMove(index, 1)}>↓</button>
          <button type="button" class="icon danger-text" title="Remove" aria-label=${`Remove ${card.name}`} onClick=${() => onRemove(index)}>✕</button>
        </div>
      </div>
      <${FieldError} field=${`ops.${index}`} errors=${errors} />
      ${op?.params.length > 0 && html`
        <div class="params">
          ${op.params.map(p => html`<${ParamInput} key=${p.name} op=${card.name} p=${p} index=${index}
            value=${card.values[p.name] ?? ''} errors=${errors} onValue=${onValue} />`)}
        </div>`}
    </li>`
}

function ParamInput ({ p, index, value, errors, onValue }) {
  const name = `ops.${index}.${p.name}`
  const id = `param-${name}`
  const invalid = errors[name] ? 'true' : undefined
  const set = e => onValue(index, p.name, e.currentTarget.value)
  let input
  if (p.type === 'enum') {
    input = html`<select id=${id} name=${name} value=${value} aria-invalid=${invalid} onChange=${set}>
      ${(p.values ?? []).map(v => html`<option key=${v} value=${v}>${v}</option>`)}</select>`
  } else if (p.type === 'colour') {
    // The picker shows #rrggbb only; the text box also takes #rgb and names, and is what is sent.
    const hex = colourHex(value) ?? '#000000'
    input = html`<span class="colour-input">
      <input type="color" aria-label=${`${p.name} picker`} value=${hex} onInput=${set} />
      <input id=${id} type="text" name=${name} value=${value} aria-invalid=${invalid} onInput=${set}
        list="colour-names" autocomplete="off" spellcheck="false" />
    </span>`
  } else {
    input = html`<input id=${id} type="number" name=${name} value=${value} aria-invalid=${invalid} onInput=${set}
      min=${p.min} max=${p.max} step=${p.type === 'integer' ? '1' : 'any'} inputmode=${p.type === 'integer' ? 'numeric' : 'decimal'} />`
  }
  return html`
    <div class="param">
      <label for=${id}>${p.name}</label>
      ${input}
      <span class="hint">${p.description}; ${p.accepts}. Default ${String(p.default)}.</span>
      <${FieldError} field=${name} errors=${errors} />
    </div>`
}
