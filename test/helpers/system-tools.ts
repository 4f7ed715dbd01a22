import { spawnSync } from 'node:child_process';

/** Why a system tool a test needs is missing, or null when it is there. `.ci/run` installs them all. */
export function missingTool(command: string, args: string[] = ['-V']): string | null {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  return r.error ? `${command} is not installed here (Debian: apt-get install openssh-client); .ci/run installs it` : null;
}
