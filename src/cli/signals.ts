// The signals that stop a long run of the command line (a folder batch, train-deep) gracefully:
// the first finishes the work in progress, a second quits at once. And standard output closed by
// its reader (`| head`), which ends a command as SIGPIPE would.

/** 128 + the signal's number: the exit status a shell reports for a command each one stopped. */
export const SIGNAL_STATUS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/** One of the signals {@link onStopSignals} handles. */
export type StopSignal = keyof typeof SIGNAL_STATUS;

/**
 * Handle SIGINT, SIGTERM and SIGHUP for a run that stops gracefully: the first calls `stop`, any
 * later one `quit`, each with the signal and its exit status. A terminal's Ctrl-C may arrive
 * twice at once (to this process, and passed on by a parent such as bin/'s or npm's): a second
 * SIGINT within 250 ms of the first is the same press. With `setAside`, the listeners already
 * installed for these signals are removed for the run. Returns the function that removes these
 * handlers (and puts the set-aside listeners back).
 * @example
 * const done = onStopSignals((s) => controller.abort(), (s, status) => process.exit(status));
 * try { await run(controller.signal); } finally { done(); }
 */
export function onStopSignals(stop: (signal: StopSignal, status: number) => void, quit: (signal: StopSignal, status: number) => void,
  options: { setAside?: boolean } = {}): () => void {
  const signals = Object.keys(SIGNAL_STATUS) as StopSignal[];
  let first: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    const s = signal as StopSignal;
    if (first === undefined) {
      first = performance.now();
      stop(s, SIGNAL_STATUS[s]);
    } else if (!(s === 'SIGINT' && performance.now() - first < 250)) {
      quit(s, SIGNAL_STATUS[s]);
    }
  };
  const saved = options.setAside ? signals.map((s) => [s, process.listeners(s)] as const) : [];
  for (const s of signals) {
    if (options.setAside) process.removeAllListeners(s);
    process.on(s, handler);
  }
  return () => {
    for (const s of signals) process.removeListener(s, handler);
    for (const [s, listeners] of saved) for (const l of listeners) process.on(s, l as (signal: NodeJS.Signals) => void);
  };
}

/**
 * Exit status of a command whose standard output its reader closed (`| head`): 128 + SIGPIPE, as a
 * shell reports a command the signal ended. A folder batch and `embed IN -` end with it, quietly.
 */
export const OUTPUT_CLOSED = 141;

/**
 * Errors writing standard output that the command has reported itself (as it stopped), so that
 * bin/'s 'error' listener on process.stdout does not say them a second time. The write callback
 * gets the error before the stream emits it.
 */
export const reportedOutputErrors = new WeakSet<Error>();

/** Whether a write error is a closed pipe: the reader is gone (`| head`, `| true`). */
export const isClosedPipe = (err: Error) => (err as { code?: unknown }).code === 'EPIPE';
