// Admission of a folder batch's files by the memory they hold (src/node/batch.ts), apart so that
// tests can load it without starting a worker pool.
//
// One gate serves the whole batch, in the main thread; the workers ask it through a MessagePort
// handed over with each task. Why there, and not a SharedArrayBuffer counter that the workers
// take from with Atomics.waitAsync, nor an admission before a task is dispatched:
// - The worker knows what a file will hold, exactly: it reads the header with the decoder
//   (sharp) anyway, which gives the frames an animation decodes to, the channels and the bit
//   depth; the main thread could only guess from the first bytes (src/header.ts has neither a
//   GIF's or WebP's frame count, which needs the whole file walked, nor a PNG's channels, and a
//   JPEG's size can sit behind 64 KB segments of EXIF). So the worker asks, after the header.
// - The main thread gives the memory back when the task settles, whatever became of the worker:
//   a worker that died (out of memory, a native crash) cannot leave its share taken and stall
//   every later file, as a counter in shared memory would unless every exit path gave it back.
// - Order across workers is one queue here, first come first served, with no lock-free ticket
//   scheme to get right.
// - Files skipped as unchanged (the manifest) never ask: they do not wait behind a large one.
//   (A file with a manifest entry is hashed a megabyte at a time before it is read, so however
//   large, it is skipped holding nothing.)
// The cost is one message each way per file decoded (two for a file over EARLY_FILE_BYTES), tens
// of microseconds beside the milliseconds a file takes (a 1080p photo: ~30 ms of CPU).
//
// A file over EARLY_FILE_BYTES asks twice: for its own bytes before it is read (the header cannot
// be had without reading: a TIFF's directory, a GIF's or WebP's frames may sit anywhere in the
// file), then, once its header is read, for the rest of what it will hold (a top-up). Before,
// every file was read whole before it asked, so the 4 tasks of each worker could hold 4 unread-for
// files of up to 827 MiB each (the largest file under the default pixel limit) outside the budget.
// Two rules keep the two-step asks from deadlocking (two tasks each holding their bytes while
// waiting for more than is left): one task at a time is between its two asks (the others wait
// before their first, holding nothing), and its top-up goes to the head of the queue and counts
// the task alone when only its own bytes are held. Every other holder has all it asked for and
// gives it back when it ends, so the top-up is always admitted in the end. The slot is held from
// the first ask through the read and the header, not the hash (taken after the top-up).
//
// Once the batch stops (abort, Ctrl-C, a callback that threw, an error every file would meet),
// runBatch answers every request not yet admitted "no", waiting or new, and gives back what the
// gate admits meanwhile: those files end 'cancelled' (pending), and only files already admitted
// finish.

/**
 * Memory a task is counted for per byte of its decoded samples (all frames): the samples, and
 * the decoder's and encoder's working copies beside them. Measured in one process, peak RSS over
 * the decoded samples, reading, marking and writing a 40-megapixel RGB image: 3.2x as JPEG,
 * 1.4x as PNG (the audit's batch of a 300 and a 150 megapixel file, 3.0 GB: 2.2x its 3-byte
 * samples).
 */
export const WORKING_FACTOR = 3;

/**
 * A file larger than this asks the gate for its own bytes before it is read, and for the rest once
 * its header is read (see the top of this file); smaller ones are read first, their bytes
 * counted with their pixels: 16 MiB, so at most 64 MiB a worker is read before it is counted
 * (4 tasks), and a photo (a few MiB) asks once.
 */
export const EARLY_FILE_BYTES = 16 * 2 ** 20;

/**
 * Memory a batch's files may hold at once, per worker (the default budget is this times the
 * workers): 512 MiB, so a 1080p RGB photo (2.1 megapixels, 3 bytes each: 19 MB counted) runs
 * in every task slot of every worker (4 x 19 MB a worker), a 24-megapixel one two per worker on
 * average (216 MB counted), and a 300-megapixel scan (2.7 GB counted) alone.
 */
export const MEMORY_PER_JOB = 512 * 2 ** 20;

/**
 * The batch's default memory budget: MEMORY_PER_JOB per worker, capped at half of `total` (the
 * machine's memory) so that many workers (`--jobs 64` allows 32 GiB otherwise) cannot admit
 * more than the machine holds; never under one MEMORY_PER_JOB.
 * @example
 * defaultMemoryBudget(4, os.totalmem()); // 2 GiB on a 16 GiB machine, 1 GiB on a 2 GiB one
 */
export function defaultMemoryBudget(jobs: number, total: number): number {
  return Math.max(MEMORY_PER_JOB, Math.min(MEMORY_PER_JOB * jobs, Math.floor(total / 2)));
}

/**
 * The memory a task is counted for (see WORKING_FACTOR): its decoded samples (width x height x
 * frames x channels x bytes a sample: 16-bit samples and every frame of an animation weigh what
 * they hold) times WORKING_FACTOR, plus the file's own bytes, held from its read to the end.
 */
export function taskBytes(sampleBytes: number, fileBytes: number): number {
  return WORKING_FACTOR * sampleBytes + fileBytes;
}

/**
 * First-come, first-served admission of tasks by what they will hold (bytes; the unit is the
 * caller's): a task that does not fit waits, in order of arrival, and so do all after it; a task
 * alone is always admitted, however large. So the total held stays within the budget, except for
 * one task larger than it, which then runs alone.
 * @example
 * const gate = new MemoryGate(64e6);
 * await gate.take(bytes); // waits while other tasks hold too much
 * try { ... } finally { gate.give(bytes); }
 */
export class MemoryGate {
  private held = 0;
  constructor(private readonly budget: number) {}
  private readonly queue: { amount: number; own: number; go: () => void }[] = [];
  private fits(amount: number, own: number): boolean {
    return this.held === own || this.held + amount <= this.budget;
  }
  /** Resolves once `amount` may be held; the caller must give it back with give(). */
  take(amount: number): Promise<void> {
    return new Promise((go) => {
      this.request(amount, go);
    });
  }
  /**
   * Calls `go` once `amount` may be held (at once, when it fits now): the caller must give it
   * back with give(). Returns a function that withdraws the request while it waits (then nothing
   * more is held, and `go` is never called); after `go`, it does nothing.
   * A top-up (`own`: what the caller holds already, over 0) goes to the head of the queue, and
   * is admitted when it fits or when the caller's own bytes are all that is held (a task alone).
   * One caller at a time may wait for a top-up (see the top of this file).
   */
  request(amount: number, go: () => void, own = 0): () => void {
    if ((this.queue.length === 0 || own > 0) && this.fits(amount, own)) {
      this.held += amount;
      go();
      return () => {};
    }
    const entry = { amount, own, go };
    if (own > 0) this.queue.unshift(entry);
    else this.queue.push(entry);
    return () => {
      const at = this.queue.indexOf(entry);
      if (at < 0) return; // admitted already
      this.queue.splice(at, 1);
      this.admitWaiting(); // the head may have been this one
    };
  }
  give(amount: number): void {
    this.held -= amount;
    this.admitWaiting();
  }
  private admitWaiting(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0].amount, this.queue[0].own)) {
      const next = this.queue.shift()!;
      this.held += next.amount;
      next.go();
    }
  }
  /** Amount held now (for tests). */
  get holding(): number {
    return this.held;
  }
  /** Requests waiting (for tests). */
  get waiting(): number {
    return this.queue.length;
  }
}

/** What a batch worker sends the gate's port: the bytes its task will hold (see taskBytes). */
export interface GateRequest {
  /**
   * The bytes the task will hold in all (taskBytes), or with `early`, the file's own bytes, asked
   * before it is read (a file over EARLY_FILE_BYTES); a later request is then the task's new
   * total, and only what it adds is asked for (a top-up).
   */
  bytes: number;
  /** The worker's threadId, for GATE_TRACE. */
  thread: number;
  /** The file's bytes, before it is read (see EARLY_FILE_BYTES). */
  early?: boolean;
}

/**
 * INTERNAL, for tests: a function under this key in runBatch's options (a symbol, so not an
 * option name, and not in BatchOptions) is called in the main thread as the gate admits a file
 * and as it takes its memory back, with what the gate holds after. Not part of the API: it may
 * change or go without notice.
 */
export const GATE_TRACE = Symbol.for('modelmark.batchGateTrace');

/** What GATE_TRACE is called with. */
export interface GateEvent {
  event: 'admit' | 'release';
  /** The input's path inside the input folder. */
  file: string;
  bytes: number;
  /** The worker's threadId. */
  thread: number;
  /** Bytes held over the whole batch after this event. */
  held: number;
  /** 'admit': whether the file waited for others to give memory back (false: admitted as it asked). */
  waited?: boolean;
  /**
   * 'admit' of a file over EARLY_FILE_BYTES: 'file', its bytes before it is read; 'top-up', what
   * its header adds to them (`bytes`: the addition). A 'release' gives back both at once.
   */
  phase?: 'file' | 'top-up';
}
