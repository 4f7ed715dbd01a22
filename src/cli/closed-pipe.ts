/**
 * A reader that stops early (`access-ca --help | head -1`, `app list | grep -m1 …`) closes the pipe under
 * us, and Node turns the next write into an EPIPE 'error' event that, unhandled, ends the process with a
 * stack trace. As cat, grep and git do, a closed output is the reader's choice, not our fault: the
 * process ends at once and quietly, with the exit code the verb has set so far (0 when none).
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => never = (code) => process.exit(code)): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw error;
  });
}
