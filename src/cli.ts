#!/usr/bin/env node
/** The `unireg` command: `unireg serve [--config FILE]`, and the client commands `pack`, `variants` and `gc`. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CLIENT_USAGE, runClientCommand } from './client/index.js';
import { ConfigError, loadConfig } from './config/load.js';

const USAGE = `usage: unireg serve [--config FILE]
       unireg pack --kernel FILE --arch ARCH --plat PLAT [options] HOST[:PORT]/REPO[:TAG]
       unireg variants [--arch A] [--plat P] [--kconfig K]... [--json] HOST[:PORT]/REPO[:TAG]
       unireg gc [--dry-run] [--json] HOST[:PORT]

  serve     run the registry (settings: --config FILE or $UNIREG_CONFIG, then UNIREG_* variables)
${CLIENT_USAGE}

See deploy/unireg.example.yaml for every setting.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Errors that stop the server from starting, with messages meant for the operator. */
const STARTUP_ERRORS = new Set(['StartupError', 'HtpasswdError', 'SigningKeyError', 'InvalidTokenError']);

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true });
  const config = await loadConfig({ file: values.config ?? process.env.UNIREG_CONFIG });
  // Imported here so that the client commands start without loading the server.
  const { startServer } = await import('./main.js');
  const running = await startServer(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`unireg: ${signal} received, shutting down\n`);
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`unireg: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'pack':
    case 'variants':
    case 'gc':
      process.exitCode = await runClientCommand(command, rest);
      return;
    case '--version':
    case 'version':
      process.stdout.write(`${version()}\n`);
      return;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      process.stderr.write(`unireg: unknown command ${command}\n${USAGE}\n`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`unireg: ${err.message}\n`);
    process.exit(2);
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (STARTUP_ERRORS.has((err as Error).name)) {
    process.stderr.write(`unireg: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'LEVEL_DATABASE_NOT_OPEN' || code === 'LEVEL_LOCKED') {
    process.stderr.write(`unireg: cannot start: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error).cause)})` : ''}\n`);
    process.exit(1);
  }
  process.stderr.write(`unireg: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
