// The op syntax that `swarm submit --help` and `swarm run --help` print. Imports nothing: the help must load fast.

export const OP_SYNTAX = `
Op syntax (--op is repeatable; ops run in the order given):
  --op name                      an op with its default parameters
  --op name:key=value,key=value  parameters, e.g. canny:low=40,high=100
  --op name:value                shorthand for ops with one parameter, e.g. blur:3

Run \`swarm ops\` for every op with its parameters, defaults and ranges.`

/** The op syntax, then the command's examples. */
export function opSyntaxHelp (examples: string[]): string {
  return `${OP_SYNTAX}\n\nExamples:\n${examples.map(e => `  $ ${e}`).join('\n')}`
}

/** The one sentence for a pipeline left out, in the style of the images' error. */
export const needsOp = (command: string): string => `swarm ${command} needs at least one --op (see \`swarm ops\`)`
