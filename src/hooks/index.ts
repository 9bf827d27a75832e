// Built-in hooks: pino log level, TLS certificate rotation, and
// onChange for "do this when that slice of the config changed".
export { logLevelHook, validLevels, type LevelLogger, type LogLevelHookOptions } from './log-level.js';
export { tlsHook, type SecureContextTarget, type TlsHook, type TlsHookPathOptions, type TlsHookSelectorOptions, type TlsPair } from './tls.js';
export { onChange, type OnChangeFn, type OnChangeOptions, type TypedOnChange } from './on-change.js';
export type { ConfigPath, ConfigWith, PathValue, Selector } from './select.js';
