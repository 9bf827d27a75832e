// An in-memory key-value store with etcd's transaction semantics (a global
// revision, each key's mod_revision, compares on it and on a prefix, prefix deletes), for
// the pure-logic tests of the rollout state machine. Every committed write
// is kept in `log`, so a test can check what happened, in order.
import type { KeyValue, Txn, TxnResult } from '../../src/etcd/client.js';

interface Stored {
  value: Buffer;
  mod: number;
}

export interface LoggedWrite {
  revision: number;
  key: string;
  /** null: deleted */
  value: string | null;
}

export class MemoryStore {
  private readonly data = new Map<string, Stored>();
  revision = 1;
  readonly log: LoggedWrite[] = [];

  get(key: string): Promise<KeyValue | null> {
    const s = this.data.get(key);
    return Promise.resolve(s ? { key, value: s.value, modRevision: String(s.mod) } : null);
  }

  /** Every key under `prefix` (sorted) and the revision of the read. */
  rangePrefixSync(prefix: string): { kvs: KeyValue[]; revision: string } {
    const kvs = [...this.data]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, s]) => ({ key, value: s.value, modRevision: String(s.mod) }));
    return { kvs, revision: String(this.revision) };
  }

  rangePrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: string }> {
    return Promise.resolve(this.rangePrefixSync(prefix));
  }

  txnSync(t: Txn): TxnResult {
    for (const c of t.compares) {
      const mod = this.data.get(c.key)?.mod ?? 0;
      if (String(mod) !== c.modRevision) return { succeeded: false, revision: String(this.revision) };
    }
    for (const g of t.unchangedPrefixes ?? []) {
      for (const [key, s] of this.data) if (key.startsWith(g.prefix) && s.mod > Number(g.readAt)) return { succeeded: false, revision: String(this.revision) };
    }
    if (t.puts.length === 0 && (t.deletePrefixes ?? []).length === 0) return { succeeded: true, revision: String(this.revision) };
    this.revision += 1;
    for (const prefix of t.deletePrefixes ?? []) {
      for (const key of [...this.data.keys()]) {
        if (!key.startsWith(prefix)) continue;
        this.data.delete(key);
        this.log.push({ revision: this.revision, key, value: null });
      }
    }
    for (const p of t.puts) {
      this.data.set(p.key, { value: Buffer.from(p.value), mod: this.revision });
      this.log.push({ revision: this.revision, key: p.key, value: p.value.toString() });
    }
    return { succeeded: true, revision: String(this.revision) };
  }

  txn(t: Txn): Promise<TxnResult> {
    return Promise.resolve(this.txnSync(t));
  }

  /** A plain put (a host publishing its record) or delete (its lease expiring). */
  put(key: string, value: string): void {
    this.txnSync({ compares: [], puts: [{ key, value }] });
  }

  delete(key: string): void {
    if (!this.data.has(key)) return;
    this.revision += 1;
    this.data.delete(key);
    this.log.push({ revision: this.revision, key, value: null });
  }

  json<T>(key: string): T | null {
    const s = this.data.get(key);
    return s ? (JSON.parse(s.value.toString('utf8')) as T) : null;
  }
}
