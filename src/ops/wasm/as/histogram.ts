// Histogram kernels (AssemblyScript): the luma histogram of a rectangle, threshold.
export function placeholder (): void {}
