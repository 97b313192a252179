// Public surface of the ops layer, for src/node, src/scheduler, src/transfer and src/ui-cli.
export type { Channels, RawImage, Rect } from './raw.ts'
export { copyRect, createRaw, isRawImage } from './raw.ts'
export * from './errors.ts'
export type { ParamValue, Params } from './params.ts'
export { describeOps, getOp, hasOp, listOps, opNames, OPS_VERSION } from './catalogue.ts'
export type { OpInfo, ParamInfo } from './catalogue.ts'
export {
  MAX_OPS, MAX_PIPELINE_HALO, formatPipeline, globalOps, outputChannels, parseOpSpec, parsePipeline,
  phaseCount, pipelineHalo, validateOp, validatePipeline
} from './pipeline.ts'
export type { OpCall, Pipeline } from './pipeline.ts'
export { mergeStats, runTile } from './run-tile.ts'
export type { TileOptions, TileResult } from './run-tile.ts'
export { AUTO_TILE_MAX, AUTO_TILE_MIN, MAX_TILE_SIZE, MIN_TILE_SIZE, autoTileSize, coreInTile, placeTile, planTiles, sliceTile } from './tiling.ts'
export type { Tile } from './tiling.ts'
export { KernelPool, createPool } from './pool.ts'
export type { PoolOptions, RunOptions } from './pool.ts'
export {
  DEFAULT_MAX_PIXELS, INPUT_FORMATS, checkImage, decodeImage, encodeImage, encodeImageToBuffer, outputFormatFor, probeImage
} from './image-io.ts'
export type { DecodeOptions, ImageInfo, InputFormat, OutputFormat } from './image-io.ts'
export { decodeToFile, openDecodedFile, readRect } from './decoded-file.ts'
export { stitchToFile } from './stitch-file.ts'
export type { DecodedFile } from './decoded-file.ts'
export { runImage, runLocal, runTiledInProcess, runWholeInProcess } from './local.ts'
export type { RunLocalOptions, RunLocalResult } from './local.ts'
