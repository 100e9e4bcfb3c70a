import { InvalidArgumentError } from './errors.js';

/** Short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') { const s = `${value}n`; return s.length > 40 ? `a bigint of ${value.toString(2).replace('-', '').length} bits` : s; }
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of length ${(value as unknown as { length?: number }).length ?? value.byteLength}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value === 'object' ? `an object (${Object.prototype.toString.call(value).slice(8, -1)})` : typeof value;
}

/**
 * The one argument-check error: names the parameter, what was expected and what came.
 * @example
 * throw invalidParameter('options.quality', 'an integer between 1 and 100', 120);
 * // InvalidArgumentError: Expected an integer between 1 and 100 for options.quality but received 120
 */
export function invalidParameter(name: string, expected: string, actual: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected ${expected} for ${name} but received ${describe(actual)}`);
}

/**
 * invalidParameter for a value that may hold a secret (a key, or the options object a key was
 * meant to go in: `createWatermarker(process.env.KEY)`): the message gives the value's kind and
 * length, never its content, so that an error log does not keep the key.
 * @example
 * throw invalidSecretParameter('options.key', 'a non-empty string or byte array', 12345678);
 * // InvalidArgumentError: Expected a non-empty string or byte array for options.key but received a number (not shown: it may be secret)
 */
export function invalidSecretParameter(name: string, expected: string, actual: unknown): InvalidArgumentError {
  const kind = typeof actual === 'string' ? `a string of length ${actual.length}`
    : typeof actual === 'number' ? 'a number' : typeof actual === 'bigint' ? 'a bigint'
    : typeof actual === 'boolean' ? 'a boolean' : describe(actual);
  const hidden = typeof actual === 'string' || typeof actual === 'number' || typeof actual === 'bigint' ? ' (not shown: it may be secret)' : '';
  return new InvalidArgumentError(`Expected ${expected} for ${name} but received ${kind}${hidden}`);
}

/**
 * A finite number within [min, max], or the default when undefined.
 * @example
 * const strength = numberIn('options.strength', options.strength, 0.25, 4, 1);
 */
export function numberIn(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidParameter(name, `a number between ${min} and ${max}`, value);
  }
  return value;
}

/**
 * A boolean option, or the default when undefined (anything else, such as the string "false",
 * is refused rather than read as true or false).
 * @example
 * const search = booleanOption('options.search', options.search, true);
 * // booleanOption('options.search', 'no', true) throws
 * // InvalidArgumentError: Expected a boolean for options.search but received "no"
 */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidParameter(name, 'a boolean', value);
  return value;
}

/**
 * detect's `pieces` option: false (the default), true (the first marked piece) or 'all' (every
 * marked piece).
 * @example
 * piecesOption('options.pieces', options.pieces); // false | true | 'all'
 */
export function piecesOption(name: string, value: unknown): boolean | 'all' {
  if (value === undefined) return false;
  if (typeof value !== 'boolean' && value !== 'all') throw invalidParameter(name, "a boolean or 'all'", value);
  return value;
}

/**
 * Refuse option names a function does not know (a typo such as `strenght` would otherwise be
 * ignored silently and the default used).
 * @example
 * checkOptionNames('options', options, ['key', 'strength']);
 * // InvalidArgumentError: Unknown option "strenght" in options; the known ones are: key, strength
 */
export function checkOptionNames(name: string, options: object, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw invalidParameter(name, `an object with some of: ${known.join(', ')}`, options);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) {
      throw new InvalidArgumentError(`Unknown option ${JSON.stringify(k)} in ${name}; the known ones are: ${known.join(', ')}`);
    }
  }
}
