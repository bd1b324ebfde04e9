#!/usr/bin/env node
/** The `unireg` command: `unireg serve [--config FILE]`, `unireg check-config`, `unireg verify`, `unireg copy-storage`, `unireg healthcheck`, and the client commands `pack`, `variants`, `gc`, `retention`, `usage`. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CLIENT_USAGE, runClientCommand } from './client/index.js';
import { ConfigError, loadConfig } from './config/load.js';
import { limitHeapGrowth, stopPretenuring } from './heap-growth.js';

const USAGE = `usage: unireg serve [--config FILE]
       unireg pack --kernel FILE --arch ARCH --plat PLAT [options] HOST[:PORT]/REPO[:TAG]
       unireg variants [--arch A] [--plat P] [--kconfig K]... [--json] HOST[:PORT]/REPO[:TAG]
       unireg retention [--dry-run] [--json] HOST[:PORT]
       unireg usage [--json] HOST[:PORT]
       unireg verify [--repair] [--json] [--config FILE | --root DIR]
       unireg copy-storage --from FILE --to FILE [--resume] [--verify] [--json]
       unireg check-config [--config FILE]
       unireg gc [--dry-run] [--json] HOST[:PORT]
       unireg healthcheck [--live] [--config FILE]

  serve     run the registry (settings: --config FILE or $UNIREG_CONFIG, then UNIREG_* variables)
  check-config  check the settings as serve would load them, print them with secrets redacted
  verify    check (--repair: fix) a stopped registry's data root; see unireg verify --help
  copy-storage  copy a stopped registry's blobs and metadata into other stores (fs+level ↔ s3+postgres)
  healthcheck  exit 0 when the server this configuration describes answers /readyz (--live: /livez) with 200
${CLIENT_USAGE}

See deploy/unireg.example.yaml for every setting.`;

const SERVE_USAGE = `usage: unireg serve [--config FILE]

Runs the registry. Settings come from --config FILE (or $UNIREG_CONFIG), then
from UNIREG_* environment variables, which win: UNIREG_HTTP_ADDR=127.0.0.1:5000,
UNIREG_STORAGE_ROOT=./storage, ... See deploy/unireg.example.yaml for every setting.

  -c, --config FILE  a YAML configuration file
  -h, --help         print this help`;

/** A command line that cannot be parsed: one line and the usage, exit code 2. */
class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Errors that stop the server from starting, with messages meant for the operator. */
const STARTUP_ERRORS = new Set(['StartupError', 'HtpasswdError', 'SigningKeyError', 'InvalidTokenError', 'TracingConfigError']);

async function serve(args: string[]): Promise<void> {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message, SERVE_USAGE);
  }
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return;
  }
  const config = await loadConfig({ file: values.config ?? process.env.UNIREG_CONFIG });
  limitHeapGrowth();
  stopPretenuring();
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
    case 'search':
    case 'diff':
    case 'retention':
    case 'usage':
    case 'gc':
      process.exitCode = await runClientCommand(command, rest);
      return;
    case 'check-config': {
      const { checkConfigCommand } = await import('./config/check-command.js');
      process.exitCode = await checkConfigCommand(rest);
      return;
    }
    case 'healthcheck': {
      const { healthcheckCommand } = await import('./metrics/healthcheck-command.js');
      process.exitCode = await healthcheckCommand(rest);
      return;
    }
    case 'verify': {
      const { verifyCommand } = await import('./maintenance/verify-command.js');
      process.exitCode = await verifyCommand(rest);
      return;
    }
    case 'copy-storage': {
      const { copyStorageCommand } = await import('./maintenance/copy-storage-command.js');
      process.exitCode = await copyStorageCommand(rest);
      return;
    }
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
  if (err instanceof UsageError) {
    process.stderr.write(`unireg: ${err.message}\n${err.usage}\n`);
    process.exit(2);
  }
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
