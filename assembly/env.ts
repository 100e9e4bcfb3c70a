// Kernels never allocate managed objects, so the only aborts are programming errors.
// Trap instead of importing a host `abort`, so the module needs no imports at all.
export function trap(message: usize, fileName: usize, line: u32, column: u32): void {
  unreachable();
}
