// Admission of a batch worker's concurrent tasks by the pixels they hold (src/node/batch-worker.ts),
// apart so that tests can load it without starting a worker.

/**
 * Decoded pixels (all frames) one worker holds at once over its concurrent tasks. A task takes
 * its image's share after reading the header and gives it back when the file is written (or
 * has been read, for detect); a task whose image does not fit waits, in order of arrival, and
 * an image alone is always admitted. So a batch of 1080p photos runs with every task slot busy
 * (4 × 2.1 megapixels), while 50-megapixel scans run one at a time per worker: about 4 bytes
 * of memory per pixel (the pixels, then the encoded copy), 256 MB per worker at most, except
 * for a single image larger than that.
 */
export const PIXEL_BUDGET = 64e6;

/**
 * First-come, first-served admission of tasks by the pixels they will hold (see PIXEL_BUDGET).
 * @example
 * const gate = new PixelGate(64e6);
 * await gate.take(width * height); // waits while other tasks hold too much
 * try { ... } finally { gate.give(width * height); }
 */
export class PixelGate {
  private held = 0;
  private readonly queue: { pixels: number; go: () => void }[] = [];
  constructor(private readonly budget: number) {}
  private fits(pixels: number): boolean {
    return this.held === 0 || this.held + pixels <= this.budget;
  }
  /** Resolves once `pixels` may be held; the caller must give them back with give(). */
  take(pixels: number): Promise<void> {
    if (this.queue.length === 0 && this.fits(pixels)) {
      this.held += pixels;
      return Promise.resolve();
    }
    return new Promise((go) => this.queue.push({ pixels, go }));
  }
  give(pixels: number): void {
    this.held -= pixels;
    while (this.queue.length > 0 && this.fits(this.queue[0].pixels)) {
      const next = this.queue.shift()!;
      this.held += next.pixels;
      next.go();
    }
  }
  /** Pixels held now (for tests). */
  get holding(): number {
    return this.held;
  }
}
