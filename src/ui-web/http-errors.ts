// One shape for every refusal the HTTP API gives: a status code and { error: { message, field?, code? } },
// where `field` names the form field at fault so the page can show the sentence next to it.
import type { ApiError } from './api-types.ts'

export class ApiRefusal extends Error {
  override name = 'ApiRefusal'
  readonly status: number
  readonly field?: string
  readonly code?: string
  constructor (status: number, message: string, opts: { field?: string, code?: string } = {}) {
    super(message)
    this.status = status
    this.field = opts.field
    this.code = opts.code
  }
}

export function errorResponse (status: number, message: string, opts: { field?: string, code?: string } = {}): Response {
  const body: ApiError = { error: { message, ...(opts.field != null ? { field: opts.field } : {}), ...(opts.code != null ? { code: opts.code } : {}) } }
  return Response.json(body, { status })
}

export function refusalResponse (err: ApiRefusal): Response {
  return errorResponse(err.status, err.message, { field: err.field, code: err.code })
}
