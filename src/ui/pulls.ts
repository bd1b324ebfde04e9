/** Copy-paste pull commands for a tag or digest of a repository on this registry. */
import { html, type Html } from './html.js';

export interface PullTarget {
  /** host:port as the browser reached the registry. */
  host: string;
  /** The registry speaks plain HTTP (podman then needs --tls-verify=false). */
  plainHttp: boolean;
  repo: string;
  ref: string;
}

function reference(t: PullTarget): string {
  return t.ref.includes(':') ? `${t.host}/${t.repo}@${t.ref}` : `${t.host}/${t.repo}:${t.ref}`;
}

export function pullCommands(t: PullTarget, unikernel: boolean): { client: string; command: string }[] {
  const ref = reference(t);
  const out = [
    { client: 'docker', command: `docker pull ${ref}` },
    { client: 'podman', command: `podman pull ${t.plainHttp ? '--tls-verify=false ' : ''}${ref}` },
  ];
  // unireg has no image pull of its own: for unikernels it lists the variants a tag holds.
  if (unikernel) {
    const flag = t.plainHttp && !/^(127\.|localhost|\[::1\])/.test(t.host) ? '--plain-http ' : '';
    const target = t.ref.includes(':') ? `${t.host}/${t.repo}` : `${t.host}/${t.repo}:${t.ref}`;
    out.push({ client: 'unireg', command: `unireg variants ${flag}${target}` });
  }
  return out;
}

export function pullBlock(t: PullTarget, unikernel: boolean): Html {
  return html`<div class="pulls">${pullCommands(t, unikernel).map(
    ({ client, command }) =>
      html`<span class="muted">${client}</span><span><code class="pull" data-client="${client}">${command}</code> <button type="button" class="copy">Copy</button></span>`,
  )}</div>`;
}
