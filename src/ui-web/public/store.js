// A value several views read and one place writes (the swarm view, the live flags, the event log).
// Preact has no global state of its own; this is the least that lets a view re-render when it changes.
import { useEffect, useState } from 'preact/hooks'

export function createStore (initial) {
  let value = initial
  const listeners = new Set()
  return {
    get: () => value,
    set (next) {
      value = typeof next === 'function' ? next(value) : next
      for (const fn of listeners) fn(value)
    },
    subscribe (fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    }
  }
}

export function useStore (store) {
  const [value, setValue] = useState(store.get())
  useEffect(() => {
    // The store may have changed between the first render and this effect.
    setValue(store.get())
    return store.subscribe(setValue)
  }, [store])
  return value
}

/** Re-renders the caller every `ms`, for "3 s ago" texts that age between server updates. */
export function useNow (ms = 1000) {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(t)
  }, [ms])
  return now
}
