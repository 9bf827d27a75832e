// etcdSource: a unit's config in one etcd key (YAML, JSON or TOML), watched.
// Each change of the key is one pass; while etcd is down the unit keeps its
// config (a pass then fails to load and changes nothing), and the watch
// resumes where it stopped when etcd returns, so no change is missed.
//
// The etcd client (the etcd3 package, gRPC) is loaded on the first load,
// never by `import 'reloadkit'` alone.
import { errorMessage, LoadError, OptionsError, refuseUnknownKeys } from '../shared/errors.js';
import { sha256Hex } from '../shared/hash.js';
import type { EtcdConnectOptions, EtcdStore, WatchHandle } from '../etcd/client.js';
import type { ConfigSource, LoadContext, LoadedConfig, Logger } from '../shared/types.js';
import { CONFIG_FORMATS, formatFromPath, loadParser, parseConfigText, type ConfigFormat } from './parse.js';

export interface EtcdSourceOptions {
  /** etcd endpoints, e.g. `http://10.0.0.1:2379` (a string or a list). */
  endpoints: string | readonly string[];
  /** The key holding the config. */
  key: string;
  /** Parser (default: by the key's extension, else yaml). */
  format?: ConfigFormat;
  /** Deadline of each etcd call in ms (default 2000). */
  timeoutMs?: number;
  /** TLS: the CA, and a client certificate and key when etcd asks for one. */
  tls?: { caFile: string; certFile?: string; keyFile?: string };
  /** etcd user; the password is read from `passwordFile` and never logged. */
  auth?: { username: string; passwordFile: string };
}

export interface EtcdConfigSource extends ConfigSource {
  readonly key: string;
  readonly format: ConfigFormat;
  /** Starts watching the key; `changed` is called once per change. Called by the reloader (`triggers.watch`). */
  watchChanges(changed: () => void, logger: Logger): Promise<{ close(): Promise<void> }>;
  /** Closes the etcd connection (the reloader's close does it when it watched). */
  close(): void;
}

/** The options checked, with their defaults, and what the etcd client is connected with. */
function etcdSourceSettings(options: EtcdSourceOptions): { key: string; format: ConfigFormat; connect: EtcdConnectOptions } {
  if (!options || typeof options !== 'object') throw new OptionsError('etcdSource needs { endpoints, key }');
  refuseUnknownKeys('etcdSource', options, ['endpoints', 'key', 'format', 'timeoutMs', 'tls', 'auth']);
  if (options.tls !== undefined) refuseUnknownKeys('etcdSource.tls', options.tls, ['caFile', 'certFile', 'keyFile']);
  if (options.auth !== undefined) refuseUnknownKeys('etcdSource.auth', options.auth, ['username', 'passwordFile']);
  const endpoints = typeof options.endpoints === 'string' ? [options.endpoints] : [...(options.endpoints ?? [])];
  if (endpoints.length === 0 || endpoints.some((e) => typeof e !== 'string' || !/^https?:\/\/\S+$/.test(e))) {
    throw new OptionsError('etcdSource: endpoints must be http:// or https:// URLs, e.g. http://127.0.0.1:2379');
  }
  if (typeof options.key !== 'string' || options.key === '') throw new OptionsError('etcdSource: key must be a non-empty string');
  const format = options.format ?? formatFromPath(options.key) ?? 'yaml';
  if (!(CONFIG_FORMATS as readonly string[]).includes(format)) {
    throw new OptionsError(`etcdSource: unknown format ${JSON.stringify(format)}; use yaml, json or toml`);
  }
  const timeoutMs = options.timeoutMs ?? 2000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new OptionsError('etcdSource: timeoutMs must be a positive number');
  return {
    key: options.key,
    format,
    connect: {
      endpoints,
      timeoutMs,
      caFile: options.tls?.caFile,
      certFile: options.tls?.certFile,
      keyFile: options.tls?.keyFile,
      username: options.auth?.username,
      passwordFile: options.auth?.passwordFile,
    },
  };
}

/** One etcd connection, opened on first use (loading the client then) and again after a failed attempt or a close. */
function lazyStore(options: EtcdConnectOptions): { get(): Promise<EtcdStore>; close(): Promise<void> } {
  let store: Promise<EtcdStore> | null = null;
  return {
    get() {
      store ??= import('../etcd/client.js')
        .then(({ EtcdStore: S }) => S.connect(options))
        .catch((err: unknown) => {
          store = null;
          throw err;
        });
      return store;
    },
    async close() {
      const s = store;
      store = null;
      try {
        (await s)?.close();
      } catch {
        // A connection that never opened has nothing to close.
      }
    },
  };
}

export function etcdSource(options: EtcdSourceOptions): EtcdConfigSource {
  const { key, format, connect: connectOptions } = etcdSourceSettings(options);
  const endpoints = connectOptions.endpoints;
  const where = `etcd key ${key}`;
  const store = lazyStore(connectOptions);
  const connect = () => store.get();
  /** etcd's mod_revision of the value the last load read (a change made before the watch started is caught up). */
  let loadedRevision: string | null = null;

  return {
    key,
    format,
    get description() {
      return where;
    },
    async load(ctx?: LoadContext): Promise<LoadedConfig> {
      ctx?.signal.throwIfAborted();
      let kv;
      try {
        kv = await (await connect()).get(key);
      } catch (err) {
        throw new LoadError(`${where}: ${errorMessage(err)}`, { cause: err });
      }
      if (kv === null) throw new LoadError(`${where}: the key does not exist (etcd ${endpoints.join(',')})`);
      loadedRevision = kv.modRevision;
      const text = kv.value.toString('utf8');
      await loadParser(format);
      const value = parseConfigText(where, text, format);
      return { value, files: [{ path: `etcd:${key}`, sha256: sha256Hex(kv.value), size: kv.value.length }] };
    },
    async watchChanges(changed, logger) {
      let handle: WatchHandle | null = null;
      let closed = false;
      // Keeps trying in the background: a reloader starting while etcd is down still watches once it is back.
      const open = async (attempt: number): Promise<void> => {
        if (closed) return;
        try {
          const s = await connect();
          handle = await s.watchKey(
            key,
            () => changed(),
            (up, err) => {
              if (up) logger.info({ source: where }, 'etcd watch connected');
              else
                logger.warn(
                  { source: where, err: err ? errorMessage(err) : undefined },
                  'etcd watch interrupted; the config in effect stays, resuming when etcd answers',
                );
            },
          );
          if (closed) {
            await handle.close();
            return;
          }
          // A change between the last load and the watch's start would otherwise wait for the next one.
          const now = await s.get(key).catch(() => null);
          if (now && now.modRevision !== loadedRevision) changed();
        } catch (err) {
          logger.warn({ source: where, err: errorMessage(err) }, 'cannot watch the etcd key yet; retrying');
          const delay = Math.min(10_000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2);
          setTimeout(() => void open(attempt + 1), delay).unref();
        }
      };
      // The first attempt is awaited (changes after start() are seen); later ones run in the background.
      await open(0);
      return {
        close: async () => {
          closed = true;
          await handle?.close();
          await store.close();
        },
      };
    },
    close() {
      void store.close();
    },
  };
}
