// Atomic file writes and the OS's reasons for file errors, for Node. Kept apart from io.ts (which
// loads sharp) so that code that only writes files, like a batch's main thread with its
// manifest, starts without loading the image codecs.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Permissions of a new file (default 0o666, less the umask). */
  mode?: number;
  /** How the file is named in an error message (default: its quoted path). */
  label?: string;
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
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fsp.FileHandle | undefined;
  let created = false;
  try {
    handle = await fsp.open(tmp, 'wx', options.mode ?? 0o666);
    created = true;
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, target);
    created = false;
  } catch (err) {
    await handle?.close().catch(() => {});
    if (created) await fsp.unlink(tmp).catch(() => {});
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
