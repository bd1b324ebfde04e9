/**
 * N unireg server processes behind nginx (round robin, no stickiness) on free
 * 127.0.0.1 ports: the balancer the replica tests send their requests to. Every
 * replica runs `unireg serve --config FILE` with its own http.addr; nginx's
 * access log records which replica answered each request. Everything is stopped
 * by PID (stop()); kill9(i) kills one replica hard, restart(i) starts it again.
 *
 * The nginx settings are the ones deploy/replicated/nginx.conf uses: bodies and
 * answers stream through (no buffering, no size limit) and the Host header is
 * passed on, so Location headers and token realms stay right.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kill9, serveProcess } from './cli.js';
import { freePort } from './ports.js';
import { waitFor, which } from './tools.js';

export interface Replica {
  port: number;
  /** `http://127.0.0.1:PORT`: the replica itself, bypassing the balancer. */
  url: string;
  proc: ChildProcess | undefined;
}

export interface AccessLine {
  method: string;
  uri: string;
  status: number;
  /** `127.0.0.1:PORT` of the replica(s) nginx tried, comma-separated when it moved on. */
  upstream: string;
}

export interface Replicas {
  /** `http://127.0.0.1:PORT` of the balancer. */
  url: string;
  /** `127.0.0.1:PORT`, as clients name the registry. */
  host: string;
  replicas: Replica[];
  /** The balancer's access log so far. */
  accessLog(): Promise<AccessLine[]>;
  kill9(i: number): Promise<void>;
  restart(i: number): Promise<void>;
  /** Stops nginx and every replica (SIGTERM by PID, then waits for each to exit). */
  stop(): Promise<void>;
}

export interface ReplicasOptions {
  /** A directory for nginx's files (config, logs, temp dirs). */
  dir: string;
  /** The unireg configuration file every replica serves with. */
  config: string;
  count?: number;
  /** Extra environment of every replica (UNIREG_* settings). */
  env?: NodeJS.ProcessEnv;
}

/** The nginx configuration: one upstream of `ports`, round robin. */
export function nginxConfig(dir: string, listen: number, ports: number[]): string {
  const asRoot = process.getuid?.() === 0 ? 'user root root;\n' : '';
  return `${asRoot}worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  log_format replicas '$request_method $request_uri $status $upstream_addr';
  access_log ${join(dir, 'access.log')} replicas;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  upstream unireg {
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${listen};
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_read_timeout 300s;
    proxy_send_timeout 300s;
    location / {
      proxy_pass http://unireg;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Connection "";
    }
  }
}
`;
}

async function stopProcess(proc: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  process.kill(proc.pid!, signal);
  const timer = setTimeout(() => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid!, 'SIGKILL');
  }, 15_000);
  await exited;
  clearTimeout(timer);
}

export async function startReplicas(options: ReplicasOptions): Promise<Replicas> {
  const nginx = await which('nginx');
  if (!nginx) throw new Error('nginx is not installed (Debian: apt-get install nginx-light)');
  const count = options.count ?? 3;
  const replicas: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    replicas.push({ port, url: `http://127.0.0.1:${port}`, proc: undefined });
  }
  const start = async (replica: Replica) => {
    const started = await serveProcess(['--config', options.config], { ...options.env, UNIREG_HTTP_ADDR: `127.0.0.1:${replica.port}` });
    replica.proc = started.proc;
    // Keep reading its output (a full pipe would stall the replica).
    started.proc.stdout!.resume();
    started.proc.stderr!.resume();
  };
  let balancer: ChildProcess | undefined;
  const stop = async () => {
    await stopProcess(balancer, 'SIGQUIT');
    await Promise.all(replicas.map((r) => stopProcess(r.proc)));
  };
  try {
    // One after the other: the first one creates (or migrates) the shared stores.
    for (const replica of replicas) await start(replica);
    const listen = await freePort();
    await mkdir(options.dir, { recursive: true });
    const conf = join(options.dir, 'nginx.conf');
    await writeFile(conf, nginxConfig(options.dir, listen, replicas.map((r) => r.port)));
    let errors = '';
    balancer = spawn(nginx, ['-c', conf, '-p', options.dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    balancer.stderr!.setEncoding('utf8').on('data', (d: string) => (errors += d));
    const url = `http://127.0.0.1:${listen}`;
    const up = await waitFor(async () => (await fetch(`${url}/v2/`)).status === 200, 15_000, 100);
    if (!up) throw new Error(`nginx did not answer on ${url}: ${errors}${await readFile(join(options.dir, 'error.log'), 'utf8').catch(() => '')}`);
    return {
      url,
      host: `127.0.0.1:${listen}`,
      replicas,
      accessLog: async () =>
        (await readFile(join(options.dir, 'access.log'), 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [method = '', uri = '', status = '0', ...upstream] = line.split(' ');
            return { method, uri, status: Number(status), upstream: upstream.join(' ') };
          }),
      kill9: async (i) => {
        const proc = replicas[i]!.proc;
        if (proc) await kill9(proc);
      },
      restart: async (i) => {
        await stopProcess(replicas[i]!.proc);
        await start(replicas[i]!);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
