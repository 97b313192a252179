// The scheduler's public surface: the pure queue machine, its LevelDB shell, and their errors.
export * from './queue-machine.ts'
export { QueueStore, type QueueStoreOptions } from './queue-store.ts'
export * from './errors.ts'
export {
  type MetaRecord, type JobRecord, type TileRecord, type QueueRecord, type LeaseRecord,
  META_KEY, jobKey, tileKey, parseKey
} from './records.ts'
