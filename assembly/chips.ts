// Keyed counter-based pseudo-random numbers: value i of stream s under the 128-bit key k is
//   h = (i * 0x9E3779B1) ^ (s * 0x632BE5AB); h = fmix(h + k0); h = fmix(h ^ k1);
//   h = fmix(h + k2); h = fmix(h ^ k3)
// with fmix the MurmurHash3 finaliser. Any value can be computed alone (no state), four at a
// time in v128 lanes, and identically in JavaScript with Math.imul.

// @ts-ignore: decorator
@inline function fmix(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

// @ts-ignore: decorator
@inline function fmix4(h: v128): v128 {
  h = v128.xor(h, i32x4.shr_u(h, 16));
  h = i32x4.mul(h, i32x4.splat(0x85ebca6b));
  h = v128.xor(h, i32x4.shr_u(h, 13));
  h = i32x4.mul(h, i32x4.splat(0xc2b2ae35));
  return v128.xor(h, i32x4.shr_u(h, 16));
}

/** One keyed value; `k` points at four u32 key words. */
export function hash(k: usize, stream: u32, i: u32): u32 {
  let h = (i * 0x9E3779B1) ^ (stream * 0x632BE5AB);
  h = fmix(h + load<u32>(k));
  h = fmix(h ^ load<u32>(k, 4));
  h = fmix(h + load<u32>(k, 8));
  return fmix(h ^ load<u32>(k, 12));
}

/** n keyed u32 values of `stream` into dst (v128 lanes). */
export function random(k: usize, stream: u32, n: i32, dst: usize): void {
  const k0 = i32x4.splat(load<u32>(k)), k1 = i32x4.splat(load<u32>(k, 4));
  const k2 = i32x4.splat(load<u32>(k, 8)), k3 = i32x4.splat(load<u32>(k, 12));
  const sv = i32x4.splat(stream * 0x632BE5AB);
  let idx = i32x4(0, 1, 2, 3);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let h = v128.xor(i32x4.mul(idx, i32x4.splat(0x9E3779B1)), sv);
    h = fmix4(i32x4.add(h, k0));
    h = fmix4(v128.xor(h, k1));
    h = fmix4(i32x4.add(h, k2));
    h = fmix4(v128.xor(h, k3));
    v128.store(dst + (<usize>i << 2), h);
    idx = i32x4.add(idx, i32x4.splat(4));
  }
  for (; i < n; i++) store<u32>(dst + (<usize>i << 2), hash(k, stream, <u32>i));
}

/** n keyed chips (+1 or -1 as f32: the top bit of each value) of `stream` into dst. */
export function chips(k: usize, stream: u32, n: i32, dst: usize): void {
  random(k, stream, n, dst);
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = dst + (<usize>i << 2);
    // set the sign bit of 1.0 from the top bit of the value
    v128.store(p, v128.or(one, v128.and(v128.load(p), i32x4.splat(0x80000000))));
  }
  for (; i < n; i++) {
    const p = dst + (<usize>i << 2);
    store<f32>(p, (load<u32>(p) >> 31) ? -1 : 1);
  }
}

/**
 * The keyed layout of one tile: a Fisher-Yates permutation of the `nslots` slots (stream 1)
 * gives the first `npilot` slots of the permutation to the `npsym` pilot symbols (the last
 * symbols, alternating) and deals the others round-robin to the data symbols
 * 0 .. nsym - npsym - 1, so every coded bit gets the same number of slots (+-1). Chip signs come
 * from stream 2. code: i32[nslots]; sign: f32[nslots]; tmp: u32[nslots].
 */
export function layout(k: usize, nslots: i32, npilot: i32, nsym: i32, npsym: i32, code: usize, sign: usize, tmp: usize): void {
  for (let i = 0; i < nslots; i++) store<u32>(tmp + (<usize>i << 2), <u32>i);
  for (let i = nslots - 1; i > 0; i--) {
    const r = hash(k, 1, <u32>i);
    const j = <i32>((<u64>r * <u64>(i + 1)) >> 32);
    const a = load<u32>(tmp + (<usize>i << 2));
    store<u32>(tmp + (<usize>i << 2), load<u32>(tmp + (<usize>j << 2)));
    store<u32>(tmp + (<usize>j << 2), a);
  }
  const ndata = nsym - npsym;
  for (let t = 0; t < nslots; t++) {
    const s = <usize>load<u32>(tmp + (<usize>t << 2));
    store<i32>(code + (s << 2), t < npilot ? ndata + t % npsym : (t - npilot) % ndata);
  }
  chips(k, 2, nslots, sign);
}
