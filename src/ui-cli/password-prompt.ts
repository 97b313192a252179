// A password from the person at the terminal (not echoed) or, for scripts, from stdin (--password-stdin):
// never from an argument, which other users of the machine see in the process list.

/** The first line of stdin, without its line end. */
export async function passwordFromStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]
}

/** Asks on the terminal; refuses with what to do when there is none. */
export async function promptPassword (question: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) throw new Error('no terminal to ask the password on: pipe it in with --password-stdin')
  process.stderr.write(question)
  stdin.setRawMode(true)
  stdin.resume()
  stdin.setEncoding('utf8')
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = ''
      const onData = (s: string): void => {
        for (const ch of s) {
          if (ch === '\r' || ch === '\n') { stdin.off('data', onData); process.stderr.write('\n'); resolve(typed); return }
          if (ch === '\u0003') { stdin.off('data', onData); process.stderr.write('\n'); reject(new Error('cancelled')); return }
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1)
          else typed += ch
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
  }
}

export async function readPassword (opts: { passwordStdin?: boolean }, question: string): Promise<string> {
  return opts.passwordStdin === true ? await passwordFromStdin() : await promptPassword(question)
}
