// Moved to job-protocol.ts (the job protocols' client and server in one file); goes once nothing imports it.
export { fetchJobs, findMaster, isRetryable, MasterGoneError, NoMasterError, submitImage, watchJob, type ClientOptions, type JobOutcome, type SubmitInput } from './job-protocol.ts'
