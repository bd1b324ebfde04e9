/**
 * The one way the maintenance commands (`unireg gc`, `retention`, `usage`) call a
 * registry's `/_unireg/` endpoints: the registry argument, the usual credentials,
 * the `registry:admin:*` right, and the JSON answer.
 */
import { authorize, requestFailure } from './auth.js';
import { commandCredentials } from './credentials.js';
import { ClientError, exchange, jsonOf } from './http.js';
import { registryArgument, type Target } from './target.js';

export interface AdminCall {
  method: 'GET' | 'POST';
  /** Path and query on the registry, e.g. `/_unireg/gc?dryRun=true`. */
  path: string;
}

/** Calls an admin endpoint of the registry named by the one positional argument; the parsed JSON answer. */
export async function callAdmin(
  positionals: readonly string[],
  values: Parameters<typeof commandCredentials>[1] & { 'plain-http'?: boolean | undefined },
  usage: (message: string) => ClientError,
  call: AdminCall,
): Promise<{ target: Target; body: unknown }> {
  const target = registryArgument(positionals, { plainHttp: values['plain-http'] }, usage);
  const creds = await commandCredentials(target.host, values).catch((err: unknown) => {
    throw new ClientError((err as Error).message, 2);
  });
  const authorization = await authorize(target, creds, 'registry:admin:*');
  const res = await exchange(target, { ...call, headers: authorization ? { Authorization: authorization } : {} });
  if (res.status !== 200) throw new ClientError(requestFailure(res, creds));
  return { target, body: jsonOf(res) };
}
