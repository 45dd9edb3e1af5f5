/*
 * relay/common/log-output - where the JSON log lines go: stdout, buffered.
 *
 * The protocol, tracking and app logs write one line per event; a write(2) per line was
 * about a tenth of the hub's main-thread CPU under load (stdout to a file is a
 * SyncWriteStream). Lines are collected and written in one write per event-loop turn (a
 * setImmediate, after the turn's I/O callbacks; STDOUT_FLUSH_MS can make it a timer), or at once when more than FLUSH_CHARS are
 * waiting, or at once for an urgent line (a refusal: the reply that follows it may close the
 * connection, and whoever reads the log expects the reason to be there by then; refusals are
 * off the accepted-mail path, so they cost a write each as every line did before). A line is
 * only ever appended whole and a chunk is written with a single write, so no line is split or
 * interleaved with another, and lines keep their order.
 * Exit: the scheduled write keeps the event loop alive, so a process that ends by running out
 * of work (the hub after a SIGTERM/SIGINT stop) has written everything. On process.exit() or
 * an uncaught exception ('exit' is emitted for both) what is still waiting is written
 * synchronously: with write(2) until done when stdout has nothing queued (a pipe whose reader
 * lags answers EAGAIN; retried for up to EXIT_WRITE_WAIT_MS), else through the stream.
 * Output that stdout itself still queues for a full pipe is lost on process.exit() - Node's
 * behaviour, for these lines as for any other write. A SIGKILL, or a signal nobody handles,
 * loses the lines of the current turn.
 * Code that writes to process.stdout directly should call flushLogOutput() first, or its
 * output may overtake log lines still waiting here.
 */
import { writeSync } from 'node:fs';

/** A log destination: one whole line (ending "\n"); `urgent` asks for it to be written now. */
export type LogSink = (line: string, urgent?: boolean) => void;

/** Flush at once beyond this many characters waiting (about 64 KiB of mostly ASCII JSON). */
export const FLUSH_CHARS = 64 * 1024;

/** How long the exit flush waits for a full pipe to drain before it hands over to the stream. */
const EXIT_WRITE_WAIT_MS = 2000;

export interface BufferedOutput {
  /** Appends one or more whole lines (each ending "\n"); urgent writes them, and what waits, now. */
  sink: LogSink;
  /** Writes what is waiting now, in one write. */
  flush: () => void;
  /** Removes what is waiting and returns it ('' for nothing), for a caller that writes it itself. */
  take: () => string;
}

/** How long stdout lines may wait for their write; 0 = until the end of the turn. A timer
 *  (10 ms) saves a few percent of the main thread under load, not beyond the benchmark's noise,
 *  and makes a line that a client's reply depends on (stripped headers, PROXY verdicts) arrive
 *  after that reply: readers of the log would have to wait for it. Not worth it today. */
export const STDOUT_FLUSH_MS = 0;

/** createBufferedOutput - a sink that batches lines into one write per turn, or per `delayMs`
 *  when that is above 0 (exported for tests). */
export function createBufferedOutput(write: (chunk: string) => void, limit = FLUSH_CHARS, delayMs = 0): BufferedOutput {
  let pending = '';
  let scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;
  const take = (): string => {
    if (scheduled !== null) {
      if (delayMs > 0) clearTimeout(scheduled as NodeJS.Timeout);
      else clearImmediate(scheduled as NodeJS.Immediate);
      scheduled = null;
    }
    const chunk = pending;
    pending = '';
    return chunk;
  };
  const flush = (): void => {
    const chunk = take();
    if (chunk !== '') write(chunk);
  };
  const sink: LogSink = (line, urgent = false) => {
    pending += line;
    if (urgent || pending.length >= limit) flush();
    else scheduled ??= delayMs > 0 ? setTimeout(flush, delayMs) : setImmediate(flush);
  };
  return { sink, flush, take };
}

const stdout = createBufferedOutput((chunk) => {
  process.stdout.write(chunk);
}, FLUSH_CHARS, STDOUT_FLUSH_MS);
let exitHooked = false;

/** writeSyncUntilDone - bytes of data written to fd, waiting out EAGAIN up to the deadline. */
function writeSyncUntilDone(fd: number, data: Buffer, waitMs: number): number {
  const deadline = Date.now() + waitMs;
  let pause: Int32Array | null = null;
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN' || Date.now() >= deadline) break;
      pause ??= new Int32Array(new SharedArrayBuffer(4));
      Atomics.wait(pause, 0, 0, 1);
    }
  }
  return offset;
}

function flushAtExit(): void {
  const chunk = stdout.take();
  if (chunk === '') return;
  let data = Buffer.from(chunk);
  // Only when nothing is queued in the stream: a direct write must not overtake it.
  if (process.stdout.writableLength === 0) data = data.subarray(writeSyncUntilDone(1, data, EXIT_WRITE_WAIT_MS));
  if (data.length > 0) process.stdout.write(data);
}

/** stdoutSink - the default sink of every log: stdout, buffered as described above. */
export const stdoutSink: LogSink = (line, urgent) => {
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', flushAtExit);
  }
  stdout.sink(line, urgent);
};

/** flushLogOutput - write the waiting log lines now, through process.stdout. */
export function flushLogOutput(): void {
  stdout.flush();
}

const isoCache = { ms: Number.NaN, text: '' };

/** isoTime - `new Date(ms).toISOString()`, computed once per millisecond. */
export function isoTime(ms: number = Date.now()): string {
  if (ms !== isoCache.ms) {
    isoCache.text = new Date(ms).toISOString();
    isoCache.ms = ms;
  }
  return isoCache.text;
}
