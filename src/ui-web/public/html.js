// htm bound to preact once, so every view writes markup the same way without a build step.
import { h } from 'preact'
import htm from 'htm'

export const html = htm.bind(h)
