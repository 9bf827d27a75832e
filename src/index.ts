// reloadkit's public API. One barrel; heavy optional parts load lazily.
export { createReloader } from './library/reloader.js';
export type {
  ConfigOf,
  Reloader,
  ReloaderOptions,
  ReloadOptions,
  TriggerOptions,
  WatchTriggerOptions,
  SocketTriggerOptions,
  HttpTriggerOptions,
} from './library/reloader.js';
export { fileSource, dirSource, envSource, layers, DEFAULT_FRAGMENT_PATTERN, DEFAULT_MAX_BYTES } from './sources/index.js';
export type {
  FileSourceOptions,
  FileConfigSource,
  DirSourceOptions,
  DirConfigSource,
  EnvSourceOptions,
  EnvConfigSource,
  LayeredConfigSource,
  ConfigFormat,
  EnvOption,
} from './sources/index.js';
export { etcdSource } from './sources/etcd.js';
export type { EtcdSourceOptions, EtcdConfigSource } from './sources/etcd.js';
export type { ApplyFailurePolicy } from './engine/unit.js';
export type { Readiness, ReadinessOptions } from './admin/host.js';
export type { PersistOptions } from './integrity/persist.js';
export type { SignatureOptions } from './integrity/signature.js';
export type { RestartPolicy } from './engine/restart.js';
export { ERROR_CODES, ReloadkitError, OptionsError, LoadError, FileNotFoundError, SignatureError, ShutdownError, UnknownUnitError } from './shared/errors.js';
export type { ErrorCode, SignatureFailureReason } from './shared/errors.js';
export { RELOAD_STATUSES, TRIGGERS } from './shared/types.js';
export type {
  ReloadResult,
  ReloadStatus,
  Trigger,
  HookOutcome,
  OutcomeStatus,
  Hook,
  NextPrevHook,
  LegacyHook,
  HookContext,
  ApplyReturn,
  DeepReadonly,
  Logger,
  MetricsRegistry,
  ConfigSource,
  LoadContext,
  LoadedConfig,
  SourceFile,
  WatchSpec,
} from './shared/types.js';
export { logLevelHook, tlsHook, onChange, validLevels } from './hooks/index.js';
export type {
  LevelLogger,
  LogLevelHookOptions,
  SecureContextTarget,
  TlsHook,
  TlsHookPathOptions,
  TlsHookSelectorOptions,
  TlsPair,
  OnChangeFn,
  OnChangeOptions,
  ConfigWith,
  ConfigPath,
  PathValue,
  TypedOnChange,
  Selector,
} from './hooks/index.js';
