// Where the fleet keeps things in etcd. Every key lives under
// `/reloadkit/<fleet>/`, so an etcd role limited to that prefix is enough:
//
//   /reloadkit/<fleet>/hosts/<host>                   a host's record, attached to its lease
//   /reloadkit/<fleet>/targets/<t>/head               {"revision":N}: the last revision number given out
//   /reloadkit/<fleet>/targets/<t>/desired            {"revision":N,"rollout":"<id>"}: what hosts bring the target to
//   /reloadkit/<fleet>/targets/<t>/rollout            the rollout to N: id, from, to, author, message, time
//   /reloadkit/<fleet>/revisions/<t>/<N>              revision N's files and metadata (N zero-padded, so keys sort)
//
// The small records hosts watch (`targets/`) are apart from the revisions'
// bytes, so a watch or a status read never carries a megabyte of files.

/** Fleet, host and target names: letters, digits, `_`, `.`, `-`, at most 64, not starting with a symbol. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const ROOT = '/reloadkit/';

function fleetPrefix(fleet: string): string {
  return `${ROOT}${fleet}/`;
}

export function hostsPrefix(fleet: string): string {
  return `${fleetPrefix(fleet)}hosts/`;
}

export function hostKey(fleet: string, host: string): string {
  return `${hostsPrefix(fleet)}${host}`;
}

export function targetsPrefix(fleet: string): string {
  return `${fleetPrefix(fleet)}targets/`;
}

function targetPrefix(fleet: string, target: string): string {
  return `${targetsPrefix(fleet)}${target}/`;
}

export function headKey(fleet: string, target: string): string {
  return `${targetPrefix(fleet, target)}head`;
}

export function revisionsPrefix(fleet: string, target: string): string {
  return `${fleetPrefix(fleet)}revisions/${target}/`;
}

export function revisionKey(fleet: string, target: string, revision: number): string {
  return `${revisionsPrefix(fleet, target)}${String(revision).padStart(10, '0')}`;
}

export function desiredKey(fleet: string, target: string): string {
  return `${targetPrefix(fleet, target)}desired`;
}

export function rolloutKey(fleet: string, target: string): string {
  return `${targetPrefix(fleet, target)}rollout`;
}

/** What a key under `targets/` is about, or null for anything else. */
export function parseTargetKey(fleet: string, key: string): { target: string; kind: 'head' | 'desired' | 'rollout' } | null {
  const prefix = targetsPrefix(fleet);
  if (!key.startsWith(prefix)) return null;
  const rest = key.slice(prefix.length).split('/');
  const target = rest[0] ?? '';
  if (!NAME_PATTERN.test(target)) return null;
  if (rest.length === 2 && (rest[1] === 'head' || rest[1] === 'desired' || rest[1] === 'rollout')) return { target, kind: rest[1] };
  return null;
}

/** The host name of a key under `hosts/`, or null. */
export function parseHostKey(fleet: string, key: string): string | null {
  const prefix = hostsPrefix(fleet);
  if (!key.startsWith(prefix)) return null;
  const host = key.slice(prefix.length);
  return NAME_PATTERN.test(host) ? host : null;
}
