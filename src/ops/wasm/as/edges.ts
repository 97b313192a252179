// edges kernels (AssemblyScript): not yet written.
export function placeholder (): void {}
