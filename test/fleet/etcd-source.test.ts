// etcdSource against a real etcd: the key's value is the config; each change
// of the key is one pass; with etcd down the unit keeps its config and
// picks up the next change once etcd is back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createReloader, etcdSource, type Reloader } from '../../src/index.js';
import { EtcdStore } from '../../src/etcd/client.js';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { waitFor } from '../integration/helpers.js';

const skip = etcdOrSkip();

describe('etcdSource with a real etcd', { skip, timeout: 120_000 }, () => {
  let etcd: TestEtcd;
  let writer: EtcdStore;
  let r: Reloader<{ port: number; name: string }>;
  const applied: { port: number; name: string }[] = [];
  const KEY = '/apps/api/config.yaml';

  before(async () => {
    etcd = await startEtcd(1);
    writer = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 2000 });
    await writer.put(KEY, 'port: 8080\nname: api\n');
    r = createReloader<{ port: number; name: string }>({
      name: 'api',
      source: etcdSource({ endpoints: etcd.endpoints, key: KEY, timeoutMs: 1000 }),
      triggers: { watch: true },
      hooks: [{ name: 'record', apply: (_ctx, _old, next) => void applied.push({ ...next }) }],
    });
    await r.start();
  });

  after(async () => {
    await r?.close();
    writer?.close();
    await etcd?.close();
  });

  it('starts from the key, and each change of the key is one pass', async () => {
    assert.deepEqual(r.current(), { port: 8080, name: 'api' });
    await writer.put(KEY, 'port: 8081\nname: api\n');
    await waitFor(() => r.generation === 1, 'the pass for the first change');
    assert.equal(r.lastResult()!.status, 'full_success');
    assert.equal(r.lastResult()!.trigger, 'watch');
    assert.deepEqual(r.lastResult()!.changed, ['port']);
    await writer.put(KEY, 'port: 8082\nname: api\n');
    await waitFor(() => r.generation === 2, 'the pass for the second change');
    // Exactly one pass per change: two changes, two passes, two applies.
    assert.equal(r.history().length, 2);
    assert.deepEqual(
      applied.map((a) => a.port),
      [8081, 8082],
    );
  });

  it('a change to a broken value is refused and the config kept', async () => {
    await writer.put(KEY, 'port: [unclosed\n');
    await waitFor(() => r.history().length === 3, 'the pass for the broken value');
    assert.equal(r.lastResult()!.status, 'load_failed');
    assert.match(r.lastResult()!.load_error!, /etcd key \/apps\/api\/config\.yaml/);
    assert.deepEqual(r.current(), { port: 8082, name: 'api' });
  });

  it('etcd down: a reload fails to load and the config is kept; the next change after etcd returns is one pass', async () => {
    await writer.put(KEY, 'port: 8083\nname: api\n');
    await waitFor(() => r.generation === 3, 'back to a valid value');
    await etcd.members[0]!.stop();
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.match(res.load_error!, /etcd key .*(unreachable|timed out)/);
    assert.deepEqual(r.current(), { port: 8083, name: 'api' });
    assert.equal(r.generation, 3);
    await etcd.members[0]!.start();
    const passes = r.history().length;
    await waitFor(
      async () => {
        await writer.put(KEY, 'port: 9000\nname: api\n').catch(() => {});
        return true;
      },
      'a write after etcd returned',
      30_000,
    );
    await waitFor(() => r.generation === 4, 'the pass for the change after etcd returned', 30_000);
    assert.deepEqual(r.current(), { port: 9000, name: 'api' });
    assert.equal(r.history().length, passes + 1, 'one pass for the one change');
  });
});
