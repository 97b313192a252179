// Talking to the server: JSON fetches, the upload, and event streams. Every error body is
// {error:{message, field?, code?}}; a 401 from any of them means the session is gone, so it sends the
// browser to /login rather than leaving each view to notice.
import { useEffect, useMemo, useState } from 'preact/hooks'

export class ApiError extends Error {
  constructor (status, message, field, code) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.field = field
    this.code = code
  }
}

export function toLogin () {
  location.assign('/login')
}

/** A proxy or a crash may answer with HTML or nothing: the status line is then the best message. */
function errorFrom (status, statusText, text) {
  try {
    const body = JSON.parse(text)
    if (body?.error?.message) return new ApiError(status, body.error.message, body.error.field, body.error.code)
  } catch {}
  return new ApiError(status, `The server answered ${status}${statusText ? ` ${statusText}` : ''}`)
}

async function request (url, init) {
  let res
  try {
    res = await fetch(url, { credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...init?.headers } })
  } catch (err) {
    if (err.name === 'AbortError') throw err
    throw new ApiError(0, 'Cannot reach the server')
  }
  if (res.status === 401) {
    toLogin()
    throw new ApiError(401, 'Not logged in')
  }
  const text = await res.text()
  if (!res.ok) throw errorFrom(res.status, res.statusText, text)
  return text ? JSON.parse(text) : null
}

export function getJSON (url, { signal } = {}) {
  return request(url, { signal })
}

export function postJSON (url, body) {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
}

/** XMLHttpRequest rather than fetch: fetch still reports no upload progress, and images can be large. */
export function upload (url, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', url)
    xhr.setRequestHeader('accept', 'application/json')
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress?.(e.loaded, e.total) }
    xhr.onload = () => {
      if (xhr.status === 401) {
        toLogin()
        reject(new ApiError(401, 'Not logged in'))
      } else if (xhr.status < 200 || xhr.status >= 300) {
        reject(errorFrom(xhr.status, xhr.statusText, xhr.responseText))
      } else {
        try { resolve(JSON.parse(xhr.responseText)) } catch { reject(new ApiError(xhr.status, 'The server sent a reply this page cannot read')) }
      }
    }
    xhr.onerror = () => reject(new ApiError(0, 'The upload failed: cannot reach the server'))
    xhr.onabort = () => reject(new ApiError(0, 'The upload was stopped'))
    xhr.send(formData)
  })
}

/**
 * Calls `fn` at once when idle, then at most once per `ms`, with one trailing call so the last change is
 * never lost. Views refetch through this: a busy job sends many events a second. lastCall: when it was
 * last called, if before this was made.
 */
export function throttle (fn, ms, lastCall = 0) {
  let last = lastCall
  let timer = null
  const run = () => { timer = null; last = Date.now(); fn() }
  const call = () => {
    if (timer != null) return
    const wait = last + ms - Date.now()
    if (wait <= 0) run()
    else timer = setTimeout(run, wait)
  }
  call.cancel = () => { clearTimeout(timer); timer = null }
  return call
}

/**
 * GET `url` now and again on reload() (throttled). A failed refetch keeps the data shown (with the
 * error beside it): a view should not go blank during a failover. Late answers to older requests are
 * dropped so a slow reply cannot overwrite a newer one.
 */
export function useFetched (url, throttleMs = 500) {
  const [state, setState] = useState({ data: null, error: null, loading: true })
  const reload = useMemo(() => {
    let seq = 0
    let ctl = null
    const t = throttle(() => {
      const mine = ++seq
      ctl?.abort()
      ctl = new AbortController()
      getJSON(url, { signal: ctl.signal }).then(
        data => { if (mine === seq) setState({ data, error: null, loading: false }) },
        error => { if (mine === seq && error.name !== 'AbortError') setState(s => ({ data: s.data, error, loading: false })) }
      )
    }, throttleMs)
    const cancel = t.cancel
    t.cancel = () => { cancel(); seq++; ctl?.abort() }
    return t
  }, [url, throttleMs])
  useEffect(() => {
    setState(s => ({ ...s, loading: true }))
    reload()
    return () => reload.cancel()
  }, [reload])
  return { ...state, reload }
}

/**
 * An EventSource that keeps trying. The browser reconnects by itself after a dropped stream (the server
 * ends it when the master changes), but gives up for good when an answer is not a 200 event stream,
 * e.g. a 503 while no master is known or a 401 once the session expired; then this checks which it was
 * and opens a new one after a pause.
 * events: { [eventName]: (data) => void }; onState(open: boolean); onOpen() for refetching what may have
 * been missed while disconnected. Returns { close, retryNow }: retryNow skips the pause when the caller
 * knows the server is back (a new master was elected).
 */
export function openStream (url, { events, onState, onOpen }) {
  let es = null
  let closed = false
  let retryTimer = null
  let delay = 1000

  const connect = () => {
    retryTimer = null
    es = new EventSource(url)
    es.addEventListener('open', () => {
      delay = 1000
      onState?.(true)
      onOpen?.()
    })
    es.addEventListener('error', () => {
      onState?.(false)
      if (es.readyState !== EventSource.CLOSED || closed) return
      fetch('/api/swarm', { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(res => { if (res.status === 401) { closed = true; toLogin() } })
        .catch(() => {})
        .finally(() => {
          if (closed) return
          retryTimer = setTimeout(() => { retryTimer = null; connect() }, delay)
          delay = Math.min(delay * 2, 10_000)
        })
    })
    for (const [name, fn] of Object.entries(events)) {
      es.addEventListener(name, (e) => {
        let data
        try { data = JSON.parse(e.data) } catch { return }
        fn(data)
      })
    }
  }
  connect()
  return {
    close () {
      closed = true
      clearTimeout(retryTimer)
      es?.close()
    },
    retryNow () {
      if (closed || retryTimer == null || es?.readyState !== EventSource.CLOSED) return
      clearTimeout(retryTimer)
      delay = 1000
      connect()
    }
  }
}
