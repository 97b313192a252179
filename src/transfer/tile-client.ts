// Moved to tile-protocol.ts (the tile protocol's client and server in one file); goes once nothing imports it.
export { sendTile, type SendTileOptions, type SentTileResult } from './tile-protocol.ts'
