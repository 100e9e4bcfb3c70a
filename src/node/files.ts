// Atomic file writes and the OS's reasons for file errors, for Node. Kept apart from io.ts (which
// loads sharp) so that code that only writes files, like a batch's main thread with its
// manifest, starts without loading the image codecs.
import { constants as bufferConstants } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, fsyncSync, openSync, promises as fsp, readdirSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { FileError } from '../errors.js';

const q = (path: string) => JSON.stringify(path);

const OS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  ERR_FS_FILE_TOO_LARGE: 'the file is larger than 2 GiB',
};


/**
 * What a path that is not a regular file is, for messages: "a named pipe (FIFO)", "a device", ...
 * @example
 * if (!st.isFile()) throw new FileError(`Not reading ${path}: it is ${fileKind(st)}`);
 */
export function fileKind(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a named pipe (FIFO)' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
}

/** How readRegularFile and hashRegularFile open a file, and what they refuse. */
export interface RegularFileOptions {
  maxBytes: number;
  noFollow?: boolean;
  notRegular: (kind: string) => Error;
  tooLarge: (size: number) => Error;
}

/**
 * Open a file that must be a regular file of at most `maxBytes` (see readRegularFile), checked
 * on what was opened. The caller closes the handle.
 */
async function openRegularFile(path: string, options: RegularFileOptions): Promise<{ handle: FileHandle; st: Stats }> {
  const handle = await fsp.open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | (options.noFollow ? fsConstants.O_NOFOLLOW : 0));
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw options.notRegular(fileKind(st));
    // Past one Buffer's reach (4 GiB on Node 20) too: Buffer.alloc would throw Node's own RangeError.
    if (st.size > options.maxBytes || st.size > bufferConstants.MAX_LENGTH) throw options.tooLarge(st.size);
    return { handle, st };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * Read a file that must be a regular file of at most `maxBytes`, checked on what was opened:
 * opened non-blocking (a FIFO would otherwise wait for a writer for ever), a device (/dev/zero
 * never ends), FIFO, socket or directory refused with `notRegular(kind)`, a larger file with
 * `tooLarge(size)` before a byte is read (so is one larger than a Buffer can be), and at most the size measured at open read (a file
 * growing meanwhile is read no further). `noFollow`: a symbolic link is refused (ELOOP).
 * Other failures (ENOENT, EACCES, ...) are thrown as the system gives them.
 * @example
 * const { bytes } = await readRegularFile('in.png', { maxBytes: 1 << 30, notRegular: (k) => new FileError(`in.png is ${k}`), tooLarge: (n) => new FileError(`${n} bytes`) });
 */
export async function readRegularFile(path: string, options: RegularFileOptions & {
  /** Called with the file's size once it is known to be read, before its buffer is made (the batch's memory gate). */
  beforeRead?: (size: number) => Promise<void>;
}): Promise<{ bytes: Buffer; st: Stats }> {
  const { handle, st } = await openRegularFile(path, options);
  try {
    await options.beforeRead?.(st.size);
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return { bytes: buf.subarray(0, n), st };
  } finally {
    await handle.close();
  }
}

/** Bytes hashRegularFile reads at a time. */
const HASH_CHUNK = 1 << 20;

/**
 * The SHA-256 (hex) of a file opened and checked as readRegularFile does, read 1 MiB at a time,
 * so that a large file is hashed without being held: the size measured at open, at most, as
 * readRegularFile reads it, so both give the same hash of an unchanged file.
 * @example
 * const hash = await hashRegularFile('scan.tif', { maxBytes: 1 << 30, notRegular: (k) => new FileError(k), tooLarge: (n) => new FileError(`${n}`) });
 */
export async function hashRegularFile(path: string, options: RegularFileOptions): Promise<string> {
  const { handle, st } = await openRegularFile(path, options);
  try {
    const hash = createHash('sha256');
    const buf = Buffer.alloc(Math.min(HASH_CHUNK, Math.max(1, st.size)));
    let n = 0;
    while (n < st.size) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, st.size - n), n);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      n += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** The OS's reason from a Node fs error, e.g. "no such file or directory (ENOENT)". */
export function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') {
    const known = OS_REASONS[e.code];
    if (known) return `${known} (${e.code})`;
    // "EIO: i/o error, read '/x'" -> "i/o error (EIO)"
    const m = /^[A-Z0-9_]+: (.*?)(?:, \w+(?: '.*')?)?$/s.exec(String(e.message));
    return `${m ? m[1] : e.message} (${e.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** This thread's temporary files that writeFileAtomic has created and not yet renamed or removed. */
const pending = new Set<string>();

/**
 * Remove, synchronously, the temporary files of writes still in progress on this thread: for a
 * signal handler that is about to end the process, so that no `.NAME.PID.RANDOM.tmp` is left.
 * @example
 * process.on('SIGINT', () => { removePendingTempFiles(); process.exit(130); });
 */
export function removePendingTempFiles(): void {
  for (const tmp of pending) {
    try {
      unlinkSync(tmp);
    } catch {
      // Gone already (renamed or removed in between).
    }
  }
  pending.clear();
}

/**
 * Remove, synchronously, the temporary files that this process's writeFileAtomic calls (on any
 * of its threads) left under `dir`, sub-folders included: for a batch quitting at once, whose
 * workers' writes may be cut short. Returns how many were removed.
 * @example
 * removeTempFilesUnder('out'); // before process.exit
 */
export function removeTempFilesUnder(dir: string): number {
  const mine = new RegExp(`^\\..+\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`);
  return sweep(dir, (name) => mine.test(name));
}

/**
 * Remove, synchronously, the temporary files under `dir` (sub-folders included) that
 * writeFileAtomic calls of processes no longer running left behind (a batch killed with
 * SIGKILL, a machine that lost power): their name carries the writer's process id. Files of live
 * processes, this one's included, are left alone. Returns how many were removed.
 * @example
 * removeStaleTempFilesUnder('out'); // at the start of a batch into out/
 */
export function removeStaleTempFilesUnder(dir: string): number {
  const temp = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;
  return sweep(dir, (name) => {
    const m = temp.exec(name);
    if (!m) return false;
    const pid = Number(m[1]);
    return pid !== process.pid && processGone(pid);
  });
}

/**
 * Remove, synchronously, the temporary files that writeFileAtomic calls of processes no longer
 * running left beside `target` (its own temporary files only, not the folder's others): for a
 * file written outside any swept folder, such as a batch manifest given with --manifest.
 * Returns how many were removed.
 * @example
 * removeStaleTempFilesOf('/data/run.manifest.json'); // at the start of a batch using it
 */
export function removeStaleTempFilesOf(target: string): number {
  const prefix = `.${shortened(basename(target), TEMP_NAME_BYTES)}.`;
  const rest = /^(\d+)\.[0-9a-f]{12}\.tmp$/;
  let names: string[];
  try {
    names = readdirSync(dirname(target));
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = rest.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || !processGone(pid)) continue;
    try {
      unlinkSync(join(dirname(target), name));
      removed++;
    } catch { /* gone already, or not ours to remove */ }
  }
  return removed;
}

/**
 * A folder's identity, to notice it removed and made again: device and inode (an inode number
 * can be reused at once by a new folder, unless the old one is held open, as runBatch does).
 * @example
 * const before = folderId(fs.statSync(out));
 * // ... later
 * if (folderId(fs.statSync(out)) !== before) throw new Error('replaced');
 */
export function folderId(st: { dev: number; ino: number }): string {
  // Not birthtimeMs: where statx is unavailable (older kernels, seccomp filters in containers)
  // libuv reports the change time as the birth time, which changes with every entry made in the
  // folder, so the folder would look replaced after its first file. Callers that must notice an
  // inode reused keep the folder open meanwhile (runBatch does): its number cannot be reused then.
  return `${st.dev}:${st.ino}`;
}

/**
 * Whether no process with this id is running (signal 0 answers ESRCH). A process that exists but
 * is not ours to signal (EPERM) counts as running: what it holds may be in use.
 * @example
 * if (processGone(pidFromLockFile)) takeTheLockOver();
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Unlink the files under `dir` whose names `match` accepts; how many. */
function sweep(dir: string, match: (name: string) => boolean): number {
  let removed = 0;
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && match(e.name)) {
        try {
          unlinkSync(p);
          removed++;
        } catch {
          // Renamed or removed meanwhile.
        }
      }
    }
  };
  walk(dir);
  return removed;
}

/**
 * Bytes of the target's name kept in a temporary file's name: with the dot, the process id, 12
 * hex digits and ".tmp" it stays within the 255 bytes most file systems allow in a name, so a
 * target whose own name is legal (up to 255 bytes) can always be written.
 */
const TEMP_NAME_BYTES = 200;

/** `name` cut to at most `max` bytes of UTF-8, on a character boundary. */
function shortened(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name;
  let out = '';
  let bytes = 0;
  for (const ch of name) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** The temporary file beside `target` that an atomic write of it goes through (the names the sweeps above look for). */
function tempPath(target: string): string {
  return join(dirname(target), `.${shortened(basename(target), TEMP_NAME_BYTES)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Permissions of a new file (default 0o666, less the umask). */
  mode?: number;
  /** How the file is named in an error message (default: its quoted path). */
  label?: string;
  /** Refuse to put the file anywhere but inside this folder: see {@link InsideFolder}. */
  insideFolder?: InsideFolder;
}

/**
 * A folder a write must stay inside, checked when the file is written (after its temporary file
 * is made, before the rename): the destination's folder must resolve inside `path`, `path` must
 * still be the folder with identity `id` (see folderId), and the temporary file must still be
 * where it was made. Another process that swaps a folder for a symbolic link between a caller's
 * own checks and the write then gets the write refused (or its rename fails), not redirected.
 */
export interface InsideFolder {
  /** The folder's real path. */
  path: string;
  /** Its folderId() when the caller began (optional). */
  id?: string;
}

/** The error of a write that {@link InsideFolder} refuses. */
const refused = (label: string, why: string) => new FileError(`Refusing to write ${label}: ${why} (another process changed the folders during the write?)`);

/** Throws unless `dir` resolves inside `inside.path`, `inside.path` is still `inside.id` and `tmp` is the file made (`made`: its dev:ino). */
async function checkInside(inside: InsideFolder, dir: string, tmp: string, made: string, label: string): Promise<void> {
  const refuse = (why: string) => refused(label, why);
  // The folder resolved before and after the temporary file is found in it, the same both times:
  // a process flipping a folder between a link and the real one must flip it twice in between.
  const real = await fsp.realpath(dir).catch(() => null);
  if (real === null || outside(inside.path, real)) {
    // The temporary file went where the link pointed: removed from there, if it is still ours.
    if (real !== null) {
      const stray = join(real, basename(tmp));
      const s = await fsp.lstat(stray).catch(() => null);
      if (s && `${s.dev}:${s.ino}` === made) await fsp.unlink(stray).catch(() => {});
    }
    throw refuse(`its folder now resolves to ${q(real ?? dir)}, outside ${q(inside.path)}`);
  }
  const t = await fsp.lstat(tmp).catch(() => null);
  if (!t || `${t.dev}:${t.ino}` !== made) throw refuse('its temporary file is no longer where it was written');
  if ((await fsp.realpath(dir).catch(() => null)) !== real) throw refuse('its folder changed while it was checked');
  await checkId(inside, label);
}

/**
 * Whether `path` is outside the folder `root` (both real paths; `root` itself is inside).
 * @example
 * outside('/out', '/out/sub'); // false
 * outside('/out', '/elsewhere'); // true
 */
export function outside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel.startsWith('..') || isAbsolute(rel);
}

/** Throws unless `inside.path` is still the folder `inside.id` names (when given). */
async function checkId(inside: InsideFolder, label: string): Promise<void> {
  if (inside.id === undefined) return;
  const st = await fsp.stat(inside.path).catch(() => null);
  if (!st || folderId(st) !== inside.id) throw refused(label, `the folder ${q(inside.path)} was removed or replaced`);
}

/**
 * Write `data` to `target` atomically: a temporary file beside it (created exclusively), flushed
 * to disk, then renamed over the target, and the directory synced where the platform allows.
 * Readers see the old file or the new one, never a part; a failure removes the temporary file and
 * throws a FileError naming the file and the OS's reason.
 * @example
 * await writeFileAtomic('models/deep.json', JSON.stringify(meta));
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, options: WriteFileAtomicOptions = {}): Promise<void> {
  const dir = dirname(target);
  const tmp = tempPath(target);
  let handle: fsp.FileHandle | undefined;
  let created = false;
  let from = tmp, to = target;
  try {
    pending.add(tmp);
    handle = await fsp.open(tmp, 'wx', options.mode ?? 0o666);
    created = true;
    await handle.writeFile(data);
    await handle.sync();
    if (options.insideFolder) {
      const label = options.label ?? q(target);
      // Where the file really is (Linux: the descriptor's own path, every link resolved), not
      // where the path leads now: checked there, and renamed there. A folder swapped for a link
      // after that makes the rename fail (the file is not where the link leads) instead of
      // landing elsewhere.
      const actual = await fsp.readlink(`/proc/self/fd/${handle.fd}`).catch(() => null);
      if (actual !== null && isAbsolute(actual) && basename(actual) === basename(tmp)) {
        if (outside(options.insideFolder.path, dirname(actual))) {
          await fsp.unlink(actual).catch(() => {});
          throw refused(label, `its folder resolved to ${q(dirname(actual))} when the file was made, outside ${q(options.insideFolder.path)}`);
        }
        from = actual;
        to = join(dirname(actual), basename(target));
        await checkId(options.insideFolder, label);
      } else {
        const made = await handle.stat();
        await checkInside(options.insideFolder, dir, tmp, `${made.dev}:${made.ino}`, label);
      }
    }
    await handle.close();
    handle = undefined;
    await fsp.rename(from, to);
    pending.delete(tmp);
    created = false;
  } catch (err) {
    await handle?.close().catch(() => {});
    if (created) {
      await fsp.unlink(from).catch(() => {});
      if (from !== tmp) await fsp.unlink(tmp).catch(() => {});
    }
    pending.delete(tmp);
    if (err instanceof FileError) throw err;
    const e = err as NodeJS.ErrnoException;
    const reason = e?.code === 'ENOENT' ? `the directory ${q(dir)} does not exist` : osReason(err);
    throw new FileError(`Cannot write ${options.label ?? q(target)}: ${reason}`, { cause: err });
  }
  // Make the rename itself durable where the platform allows syncing a directory.
  try {
    const d = await fsp.open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch {
    // Not supported (e.g. Windows); the file's own data is already on disk.
  }
}

/**
 * {@link writeFileAtomic}, synchronously, for a process about to exit at once (a second Ctrl-C),
 * where no later turn of the event loop will come: the same temporary file beside the target
 * (created exclusively), flushed to disk, renamed over the target, the directory synced where
 * the platform allows. No `insideFolder`. Throws a FileError naming the file and the OS's reason.
 * @example
 * writeFileAtomicSync('out/.modelmark-manifest.json', text, { mode: 0o600 }); process.exit(130);
 */
export function writeFileAtomicSync(target: string, data: string | Uint8Array, options: Omit<WriteFileAtomicOptions, 'insideFolder'> = {}): void {
  const dir = dirname(target);
  const tmp = tempPath(target);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, 'wx', options.mode ?? 0o666);
    created = true;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, target);
    created = false;
  } catch (err) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* closed already */ }
    if (created) try { unlinkSync(tmp); } catch { /* gone already */ }
    const e = err as NodeJS.ErrnoException;
    const reason = e?.code === 'ENOENT' ? `the directory ${q(dir)} does not exist` : osReason(err);
    throw new FileError(`Cannot write ${options.label ?? q(target)}: ${reason}`, { cause: err });
  }
  try {
    const d = openSync(dir, 'r');
    try { fsyncSync(d); } finally { closeSync(d); }
  } catch {
    // Not supported (e.g. Windows); the file's own data is already on disk.
  }
}
