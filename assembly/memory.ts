// A bump allocator over linear memory. The host allocates image buffers with `alloc`,
// remembers `mark()` before an operation and rewinds with `release(mark)` after it.
// Every block is 16-byte aligned (v128 loads) and followed by 16 bytes of slack so that
// SIMD loads of the last partial vector never leave the allocation.

let top: usize = 0;

function ensure(end: usize): bool {
  const have = <usize>memory.size() << 16;
  if (end <= have) return true;
  const pages = <i32>((end - have + 0xffff) >> 16);
  return memory.grow(pages) >= 0;
}

/** Allocate `bytes` (16-byte aligned); returns 0 when memory cannot grow. */
export function alloc(bytes: usize): usize {
  if (top == 0) top = (__heap_base + 15) & ~<usize>15;
  const ptr = top;
  // A request whose end would pass the 32-bit address space wraps around in usize arithmetic:
  // refuse it (0) instead of handing out a block that does not exist and moving top backwards.
  if (bytes > <usize>0xFFFFFFFF - ptr - 31) return 0;
  const end = (ptr + bytes + 16 + 15) & ~<usize>15;
  if (end < ptr || !ensure(end)) return 0;
  top = end;
  return ptr;
}

/** Current allocation top, to pass to `release` later. */
export function mark(): usize {
  if (top == 0) top = (__heap_base + 15) & ~<usize>15;
  return top;
}

/** Free everything allocated after `m` was taken. */
export function release(m: usize): void {
  top = m;
}

/** Fill `n` bytes at `ptr` with zero. */
export function zero(ptr: usize, n: usize): void {
  memory.fill(ptr, 0, n);
}

/**
 * The memory floor for benchmarks: one pass that reads every byte of a buffer and writes it
 * back (xor with 0 through v128 lanes), the least work any in-place image kernel can do.
 */
export function touch(ptr: usize, n: usize): void {
  const z = i32x4.splat(0);
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) {
    v128.store(ptr + i, v128.xor(v128.load(ptr + i), z));
  }
  for (; i < n; i++) store<u8>(ptr + i, load<u8>(ptr + i));
}
