/** What deploy/Dockerfile's runtime stage gives a container: its ENV variables and its USER. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo.js';

function instructions(): string[] {
  const text = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

/** The ENV variables (KEY=VALUE form) of the Dockerfile, the last one of a name winning. */
export function dockerfileEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of instructions()) {
    const m = /^ENV\s+(.*)$/.exec(line);
    if (!m) continue;
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const i = pair.indexOf('=');
      if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  return env;
}

/** The last USER instruction (the one the container runs as), as written: `1000:1000`, `node`. */
export function dockerfileUser(): { user: string; group: string | undefined } {
  const users = instructions().flatMap((line) => {
    const m = /^USER\s+(\S+)$/.exec(line);
    return m ? [m[1]!] : [];
  });
  const last = users.at(-1);
  if (last === undefined) throw new Error('deploy/Dockerfile has no USER: the image would run as root');
  const [user, group] = last.split(':');
  return { user: user!, group };
}
