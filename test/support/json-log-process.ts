/*
 * test/support/json-log-process - a child process whose stdout is the relay's JSON log lines:
 * collects them, lets a test wait for one, and keeps the tail of stderr for error messages.
 * Shared by hub-process.ts (standalone hub) and operator-process.ts (operator, relay pods).
 */
import type { ChildProcess } from 'node:child_process';

export interface LogLine {
  log: string;
  message?: string;
  [field: string]: unknown;
}

/** A child process whose stdout is JSON lines. */
export class JsonLogProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  readonly #waiters: Array<{ predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  constructor(child: ChildProcess) {
    this.child = child;
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          this.stderr += `${text}\n`;
          continue;
        }
        this.logs.push(line);
        for (const waiter of [...this.#waiters]) {
          if (waiter.predicate(line)) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** waitForLog - the first line (already logged or to come) that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const found = this.logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; logs:\n${this.tail()}`)), timeoutMs);
      this.#waiters.push({ predicate, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`process exited with ${code} before the log line; logs:\n${this.tail()}`));
      });
    });
  }

  tail(lines = 30): string {
    return [...this.logs.slice(-lines).map((l) => JSON.stringify(l)), this.stderr.slice(-4000)].join('\n');
  }

  async signal(signal: NodeJS.Signals): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}
