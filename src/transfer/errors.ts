// Errors of the transfer protocols. A malformed or oversized frame resets its stream only.
export class MalformedFrameError extends Error {
  override name = 'MalformedFrameError'
}

/** The peer's side of the stream ended early: a lost connection, not a bad answer. */
export class StreamEndedError extends MalformedFrameError {
  override name = 'StreamEndedError'
}

export class FrameTooLargeError extends MalformedFrameError {
  override name = 'FrameTooLargeError'
}

export class StreamTimeoutError extends Error {
  override name = 'StreamTimeoutError'
}

export class RemoteError extends Error {
  override name = 'RemoteError'
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}
