import { spawn, type ChildProcess } from 'node:child_process';

/** util-linux `logger`: Node cannot open the AF_UNIX datagram socket a syslog daemon listens on; logger can. */
export const LOGGER_PROGRAM = 'logger';
/** What the copy is tagged with, and its priority: authpriv keeps people's names out of world-readable logs. */
const TAG = 'access-ca-audit';
const PRIORITY = 'authpriv.info';
/** RFC 3164's 1 KiB is logger's default; an event with many principals is longer. Local daemons take 8 KiB. */
const MAX_MESSAGE = 8192;
/** Lines waiting for logger beyond this are dropped (and counted) rather than held: the copy never grows memory. */
const MAX_BUFFERED = 1 << 20;
/** After logger exits it is started again after 1 s, then 2, 4… up to 30 s while it keeps exiting. */
const RESTART_DELAYS_MS = { first: 1000, most: 30_000 };
/** A logger that ran this long was working: the next restart waits the first delay again. */
const SETTLED_MS = 60_000;

/** The best-effort syslog copy of the audit stream. */
export interface SyslogCopy {
  /** Hands lines (already in the file) to logger; never waits and never fails. False: they were dropped. */
  send(text: string): boolean;
  /** Starts logger afresh (on SIGHUP: the daemon may have made a new socket). */
  restart(): void;
  close(): Promise<void>;
}

/**
 * Keeps one `logger --socket <socket>` running, its stdin fed one event per line, and starts it again
 * (after a second, then longer) when it exits. `onProblem` hears of logger's complaints and exits, for
 * the server's log.
 */
export function startSyslogCopy(options: {
  socket: string;
  program?: string;
  onProblem: (message: string) => void;
}): SyslogCopy {
  let child: ChildProcess | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let delay = RESTART_DELAYS_MS.first;

  const start = () => {
    timer = null;
    if (closed) return;
    const since = performance.now();
    const args = ['--socket', options.socket, '--socket-errors=on', '--tag', TAG, '--priority', PRIORITY, '--size', String(MAX_MESSAGE)];
    // Its own process group: a Ctrl-C meant for the server does not stop it before the server's last
    // lines; it ends at the end of its input, when the server closes it or dies.
    const started = spawn(options.program ?? LOGGER_PROGRAM, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    child = started;
    started.stdin!.on('error', () => {}); // an exit while writing: 'close' below says so
    started.stderr!.setEncoding('utf8').on('data', (text: string) => options.onProblem(`logger: ${text.trim()}`));
    started.on('error', (error) => options.onProblem(`cannot run ${options.program ?? LOGGER_PROGRAM}: ${error.message}`));
    started.on('close', (code, signal) => {
      // One replaced by restart() or close() is not started again.
      if (closed || child !== started) return;
      child = null;
      if (performance.now() - since > SETTLED_MS) delay = RESTART_DELAYS_MS.first;
      options.onProblem(`logger exited (${signal ?? code}); starting it again in ${delay / 1000} s`);
      timer = setTimeout(start, delay);
      timer.unref();
      delay = Math.min(delay * 2, RESTART_DELAYS_MS.most);
    });
  };
  start();

  return {
    send(text) {
      const stdin = child?.stdin;
      if (!stdin || !stdin.writable || stdin.writableLength > MAX_BUFFERED) return false;
      stdin.write(text);
      return true;
    },
    restart() {
      const old = child;
      child = null;
      old?.stdin?.end();
      if (timer) clearTimeout(timer);
      delay = RESTART_DELAYS_MS.first;
      start();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const last = child;
      child = null;
      if (!last || last.exitCode !== null || last.signalCode !== null) return;
      // logger sends what it has read, then exits at the end of its input; one that does not is killed.
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => {
          last.kill('SIGKILL');
          resolve();
        }, 2000);
        last.once('close', () => {
          clearTimeout(kill);
          resolve();
        });
        last.stdin?.end();
      });
    },
  };
}
