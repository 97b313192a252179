// `swarm submit`: send images to the swarm, follow each job with a progress bar, write the results.
import { Option, type Command } from 'commander'
import { OUTPUT_FORMATS, MAX_TILE_SIZE, MIN_TILE_SIZE } from '../../ops/limits.ts'
import { collect, intInRange, keyOption, peerOption, positiveInt } from '../shared-options.ts'
import { needsOp, opSyntaxHelp } from '../op-syntax.ts'
import type { SubmitOpts } from '../actions/submit.ts'

export function registerSubmitCommand (program: Command): void {
  program.command('submit')
    .description('process images on the swarm: a progress bar per job, results written when done')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, TIFF, GIF, AVIF)')
    // Not a required option: commander checks those before the arguments, and `swarm submit` alone
    // should be told about its images first.
    .option('--op <spec>', 'an op of the pipeline, in order (repeatable): name or name:key=value,key=value; see `swarm ops`', collect)
    .option('-o, --output <path>', 'output file (one image; its extension picks the format) or directory (several images: an existing one, a path ending in / or without an image extension)', 'swarm-out')
    .addOption(new Option('--format <format>', 'output format when -o is a directory or has no extension (default: png)').choices(OUTPUT_FORMATS))
    .option('--force', 'overwrite output files that exist (else they are refused before any work)', false)
    .option('--tile-size <px>', 'tile edge in pixels (default: the master\'s, fitted to the image and the swarm)', intInRange('--tile-size', MIN_TILE_SIZE, MAX_TILE_SIZE))
    .option('--detach', 'print the job ids and return at once; fetch later with `swarm result <job>`', false)
    .option('--no-cache', 'compute it even if the same image, pipeline and format ran before (the result cache answers such a submit with that output)')
    .addOption(new Option('--json', 'NDJSON events on stdout (accepted, progress, result, failed, error), one per line; no bars').conflicts('quiet'))
    .option('-q, --quiet', 'nothing but errors on stderr, and the paths written (or job ids) on stdout')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .addHelpText('after', opSyntaxHelp([
      'swarm submit photo.jpg --op grayscale --op canny -o edges.png',
      'swarm submit *.jpg --op blur:sigma=2 --op sharpen -o out/ --format webp',
      'swarm submit scan.tif --op threshold:method=otsu --detach'
    ]))
    .action(async (images: string[], opts: SubmitOpts, cmd: Command) => {
      if (opts.op == null || opts.op.length === 0) cmd.error(`error: ${needsOp('submit')}`)
      const { submit } = await import('../actions/submit.ts')
      process.exitCode = await submit(images, opts)
    })
}
