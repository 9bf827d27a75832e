import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileGlob } from '../../src/sources/glob.js';

describe('glob matcher', () => {
  test('the default fragment pattern', () => {
    const m = compileGlob('*.{yaml,yml,json,toml}');
    for (const name of ['a.yaml', '10-base.yml', 'x.json', 'y.toml', 'with space.yaml', 'a.b.yaml']) assert.ok(m(name), name);
    for (const name of ['a.yaml~', 'a.yaml.swp', '.a.yaml.swp', '.hidden.yaml', 'a.YAMLX', 'README', 'a.yaml.bak', '..data', 'yaml']) assert.ok(!m(name), name);
  });

  test('? matches one character; literal regex characters stay literal', () => {
    const m = compileGlob('conf-?.(1)+.json');
    assert.ok(m('conf-a.(1)+.json'));
    assert.ok(!m('conf-ab.(1)+.json'));
    assert.ok(!m('conf-a.1+.json'));
  });

  test('wildcards do not match a leading dot unless the pattern starts with one', () => {
    assert.ok(!compileGlob('*')('.env'));
    assert.ok(!compileGlob('?env')('.env'));
    assert.ok(compileGlob('.*')('.env'));
  });

  test('alternatives may hold wildcards', () => {
    const m = compileGlob('{base,*-override}.yaml');
    assert.ok(m('base.yaml'));
    assert.ok(m('prod-override.yaml'));
    assert.ok(!m('other.yaml'));
  });

  test('unsupported syntax is a clear error', () => {
    assert.throws(() => compileGlob('*.[jy]son'), /only \*, \? and \{a,b\} are supported/);
    assert.throws(() => compileGlob('sub/*.yaml'), /no `\/`/);
    assert.throws(() => compileGlob('{a,{b,c}}'), /nested/);
    assert.throws(() => compileGlob('{a,b'), /unclosed/);
    assert.throws(() => compileGlob('a}'), /unmatched/);
    assert.throws(() => compileGlob(''), /empty/);
  });
});
