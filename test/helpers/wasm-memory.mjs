// Wasm memory for kernel tests: inputs and outputs get GUARD sentinel bytes after them, which a
// kernel must leave intact (no writes past its output, SIMD tails included).
import * as assert from 'uvu/assert';
import { Arena } from '../../dist/wasm.js';

export const GUARD = 64;
export const SENTINEL = 0xa5;

/** Helpers over the kernels `k` (from init()). */
export function wasmMemory(k) {
  /** Copy a typed array into wasm memory, followed by guard bytes; returns the pointer. */
  function put(a, src) {
    const ptr = a.bytes(src.byteLength + GUARD);
    const mem = a.u8(ptr, src.byteLength + GUARD);
    mem.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    mem.fill(SENTINEL, src.byteLength);
    return ptr;
  }
  /** Reserve `n` bytes filled with `fill`, followed by guard bytes. */
  function out(a, n, fill = 0) {
    const ptr = a.bytes(n + GUARD);
    a.u8(ptr, n).fill(fill);
    a.u8(ptr + n, GUARD).fill(SENTINEL);
    return ptr;
  }
  /** Assert the guard bytes after the n bytes at ptr are intact. */
  function guard(a, ptr, n, name) {
    const g = a.u8(ptr + n, GUARD);
    for (let i = 0; i < GUARD; i++) {
      if (g[i] !== SENTINEL) assert.unreachable(`${name} wrote past its ${n} bytes: byte ${n + i} of the buffer at ${ptr}`);
    }
  }
  /** Run fn with a fresh arena, released afterwards. */
  function withArena(fn) {
    const a = new Arena(k);
    try { return fn(a); } finally { a.release(); }
  }
  /** A copy of n floats at ptr. */
  const f32 = (a, ptr, n) => Float32Array.from(a.f32view(ptr, n));
  return { put, out, guard, withArena, f32 };
}
