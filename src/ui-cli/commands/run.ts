// `swarm run`: run a pipeline on one image on this machine. It is the reference the swarm must match:
// whatever the tiling and the failures, `swarm submit` produces the same pixels as this.
import { InvalidArgumentError, Option } from 'commander'
import type { Command } from 'commander'
import { DEFAULT_MAX_PIXELS, OUTPUT_FORMATS } from '../../ops/limits.ts'
import { collect } from '../shared-options.ts'
import { opSyntaxHelp } from '../op-syntax.ts'
import type { RunOpts } from '../actions/run.ts'

export const OP_SYNTAX_HELP = opSyntaxHelp([
  'swarm run photo.jpg --op grayscale --op blur:sigma=2 --op canny:low=40,high=100 -o edges.png',
  'swarm run scan.png --op grayscale --op threshold:method=otsu --op dilate:radius=1 -o bw.png',
  'swarm run photo.jpg --op normalise:lower=0,upper=100 --op sharpen:amount=1.5 -o crisp.webp',
  'swarm run photo.jpg --op contours:colour=#00ff00,thickness=3 -o outlined.jpg'
])

function positiveInt (name: string, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer between 1 and ${max}, got "${value}"`)
    }
    return n
  }
}

export function registerRunCommand (program: Command): void {
  program
    .command('run')
    .description('run a pipeline of ops on one image, on this machine only (the local reference for swarm results)')
    .argument('<image>', 'input image: JPEG, PNG, WebP, TIFF, GIF or AVIF')
    .requiredOption('-o, --output <file>', 'output image; the format follows the extension: .png .jpg/.jpeg .webp .tif/.tiff .avif .gif (or a directory: <image>.<format> in it)')
    .option('--op <spec>', 'an op to apply: name or name:key=value,... (repeatable)', collect)
    .addOption(new Option('--format <format>', 'output format when -o is a directory or has no extension (default: png)').choices(OUTPUT_FORMATS))
    .option('--force', 'overwrite the output file if it exists (else it is refused before any work)', false)
    .option('--max-pixels <n>', `refuse larger input images (default ${DEFAULT_MAX_PIXELS})`, positiveInt('--max-pixels', 2 ** 40))
    .option('--threads <n>', 'worker threads for the pixel kernels (default: number of cores)', positiveInt('--threads', 256))
    .addHelpText('after', OP_SYNTAX_HELP)
    .action(async (image: string, opts: RunOpts) => { const { run } = await import('../actions/run.ts'); await run(image, opts) })
}
