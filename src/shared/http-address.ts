// The admin HTTP address, `host:port` or `[v6]:port`: parsed where the server
// binds it and where createReloader checks `triggers.http` before anything starts.
import { OptionsError } from './errors.js';

/** Splits `host:port` / `[v6]:port`. Throws a clear error for anything else. */
export function parseHttpAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:[\]]*):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new OptionsError(`HTTP address must be host:port (e.g. 127.0.0.1:9111 or [::1]:9111), got "${address}"`);
  }
  return { host: m[1]!, port };
}
