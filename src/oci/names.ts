/** Repository names and tags, with the grammars of the distribution spec. */
import { NameInvalidError, TagInvalidError } from '../domain/errors.js';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Distribution's limit; clients reject longer names anyway. */
export const MAX_NAME_LENGTH = 255;

export type RepoName = string & { readonly __brand: 'RepoName' };
export type Tag = string & { readonly __brand: 'Tag' };

export function parseRepoName(value: string): RepoName {
  if (value.length > MAX_NAME_LENGTH || !NAME.test(value)) throw new NameInvalidError(value);
  return value as RepoName;
}

export function isValidTag(value: string): value is Tag {
  return TAG.test(value);
}

export function parseTag(value: string): Tag {
  if (!isValidTag(value)) throw new TagInvalidError(value);
  return value;
}
