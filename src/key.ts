import { invalidSecretParameter } from './args.js';
import { ModelmarkError } from './errors.js';

const SALT = new TextEncoder().encode('modelmark/v1 salt');

/**
 * Derive eight 32-bit words from a user key (any non-empty string or bytes) with HKDF-SHA-256
 * (WebCrypto; no work factor: keys must be random). `info` separates independent uses of one key.
 */
export async function deriveKey(key: unknown, info: string, name = 'options.key'): Promise<Uint32Array> {
  let bytes: Uint8Array<ArrayBuffer>;
  if (typeof key === 'string') {
    if (key.length === 0) throw invalidSecretParameter(name, 'a non-empty string or byte array', key);
    bytes = new TextEncoder().encode(key);
  } else if (key instanceof Uint8Array) {
    if (key.length === 0) throw invalidSecretParameter(name, 'a non-empty string or byte array', key);
    bytes = new Uint8Array(key);
  } else {
    throw invalidSecretParameter(name, 'a non-empty string or byte array', key);
  }
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new ModelmarkError('ERR_NO_WEBCRYPTO', 'WebCrypto (crypto.subtle) is not available in this runtime; modelmark needs it to derive keys (Node 20+, browsers in a secure context, workers).');
  const base = await subtle.importKey('raw', bytes, 'HKDF', false, ['deriveBits']);
  const bits = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: SALT, info: new TextEncoder().encode(info) }, base, 256);
  return new Uint32Array(bits);
}
