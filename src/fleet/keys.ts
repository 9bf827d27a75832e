// Where the fleet keeps things in etcd. Every key lives under
// `/reloadkit/<fleet>/`, so an etcd role limited to that prefix is enough:
//
//   /reloadkit/<fleet>/hosts/<host>                   a host's record, attached to its lease
//   /reloadkit/<fleet>/targets/<t>/head               {"revision":N}: the last revision number given out
//   /reloadkit/<fleet>/targets/<t>/desired            {"revision":N,"rollout":"<id>"}: what hosts bring the target to
//   /reloadkit/<fleet>/targets/<t>/rollout            the rollout's state machine: id, from, to, state, order settings, halt reason
//   /reloadkit/<fleet>/targets/<t>/current            {"revision":N}: the last revision a rollout completed
//   /reloadkit/<fleet>/targets/<t>/driver             the host driving the target's rollouts, attached to its lease
//   /reloadkit/<fleet>/turns/<t>/<host>               a host's turn in the rollout: the revision to apply, then its outcome
//   /reloadkit/<fleet>/revisions/<t>/<N>              revision N's files and metadata (N zero-padded, so keys sort)
//
// The small records every host watches (`targets/`) are apart from the
// revisions' bytes, so a watch or a status read never carries a megabyte of
// files; and apart from the turns, which only the driver reads in full (a
// host watches its own turn key only), so a rollout's per-host progress does
// not fan out to every host.

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

export function targetPrefix(fleet: string, target: string): string {
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

export function currentKey(fleet: string, target: string): string {
  return `${targetPrefix(fleet, target)}current`;
}

export function driverKey(fleet: string, target: string): string {
  return `${targetPrefix(fleet, target)}driver`;
}

/** Every target's turns (`turns/`). */
export function allTurnsPrefix(fleet: string): string {
  return `${fleetPrefix(fleet)}turns/`;
}

/** One target's turns. */
export function turnsPrefix(fleet: string, target: string): string {
  return `${allTurnsPrefix(fleet)}${target}/`;
}

export function turnKey(fleet: string, target: string, host: string): string {
  return `${turnsPrefix(fleet, target)}${host}`;
}

const TARGET_KEY_KINDS = ['head', 'desired', 'rollout', 'current', 'driver'] as const;
type TargetKeyKind = (typeof TARGET_KEY_KINDS)[number];

/** What a key under `targets/` is about, or null for anything else. */
export function parseTargetKey(fleet: string, key: string): { target: string; kind: TargetKeyKind } | null {
  const prefix = targetsPrefix(fleet);
  if (!key.startsWith(prefix)) return null;
  const rest = key.slice(prefix.length).split('/');
  const target = rest[0] ?? '';
  if (!NAME_PATTERN.test(target)) return null;
  const kind = TARGET_KEY_KINDS.find((k) => k === rest[1]);
  return rest.length === 2 && kind !== undefined ? { target, kind } : null;
}

/** The target and host of a key under `turns/`, or null. */
export function parseTurnKey(fleet: string, key: string): { target: string; host: string } | null {
  const prefix = allTurnsPrefix(fleet);
  if (!key.startsWith(prefix)) return null;
  const rest = key.slice(prefix.length).split('/');
  if (rest.length !== 2 || !NAME_PATTERN.test(rest[0]!) || !NAME_PATTERN.test(rest[1]!)) return null;
  return { target: rest[0]!, host: rest[1]! };
}

/** The host name of a key under `hosts/`, or null. */
export function parseHostKey(fleet: string, key: string): string | null {
  const prefix = hostsPrefix(fleet);
  if (!key.startsWith(prefix)) return null;
  const host = key.slice(prefix.length);
  return NAME_PATTERN.test(host) ? host : null;
}
