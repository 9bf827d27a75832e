// A host's entry in the fleet: `hosts/<host>` attached to an etcd lease of
// `lease_ttl`. While the host renews the lease the entry stays; a host that
// stops (killed, cut off) disappears from `fleet status` once the TTL
// passes. The record is rewritten whenever what the host runs changes.
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';
import type { EtcdStore, LeaseHandle } from '../etcd/client.js';
import { hostKey } from './keys.js';
import type { HostRecord } from './records.js';

export interface RegistrationEvents {
  /** The lease renewed (true) or failed to renew (false). */
  onRenewal(ok: boolean, err?: Error): void;
  /** The lease is gone: the host must register again. */
  onLost(err: Error): void;
}

export class HostRegistration {
  private lease: LeaseHandle | null = null;
  private published: string | null = null;
  private publishing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: EtcdStore,
    private readonly fleet: string,
    private readonly host: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {}

  /** The lease the record lives on (null before register, after release). */
  get leaseId(): string | null {
    return this.lease?.id ?? null;
  }

  /** Grants a new lease and writes the record under it. */
  async register(record: HostRecord, events: RegistrationEvents): Promise<void> {
    this.lease?.release();
    const lease = await this.store.lease(this.ttlSeconds);
    this.lease = lease;
    lease.onRenewal((ok, err) => {
      if (this.lease === lease) events.onRenewal(ok, err);
    });
    lease.onLost((err) => {
      if (this.lease === lease) events.onLost(err);
    });
    this.published = null;
    await this.publish(record);
  }

  /**
   * Writes the record when it changed since the last successful write.
   * Writes are serialized; a failure is thrown (the caller marks itself
   * disconnected and publishes again on reconnect).
   */
  publish(record: HostRecord): Promise<void> {
    const run = async () => {
      const text = JSON.stringify(record);
      if (text === this.published || !this.lease) return;
      await this.lease.put(hostKey(this.fleet, this.host), text);
      this.published = text;
    };
    const p = this.publishing.then(run, run);
    this.publishing = p.catch(() => {});
    return p;
  }

  /** Forget what was written (after an outage the record is written again). */
  invalidate(): void {
    this.published = null;
  }

  /** Revokes the lease: the host leaves the fleet at once (graceful stop). */
  async leave(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    if (!lease) return;
    try {
      await lease.revoke();
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'fleet: revoking the lease failed; the entry expires with its TTL');
    }
  }

  release(): void {
    this.lease?.release();
    this.lease = null;
  }
}
