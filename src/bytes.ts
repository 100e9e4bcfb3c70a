// Small byte helpers shared by the container parsers (metadata.ts, iptc.ts). Core code.

/** The bytes of an ASCII string. */
export const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Whether `b` holds `tag` at `at` (a plain loop: no closure made per call, as a crafted file's millions of segments would make). */
export function startsWith(b: Uint8Array, at: number, tag: Uint8Array): boolean {
  if (b.length < at + tag.length) return false;
  for (let i = 0; i < tag.length; i++) if (b[at + i] !== tag[i]) return false;
  return true;
}
