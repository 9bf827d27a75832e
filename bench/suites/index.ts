// Every benchmark suite, in run order. Add a suite by importing it here.
import type { BenchSuite } from '../harness.js';
import { engineSuite } from './engine.js';
import { sourcesSuite } from './sources.js';
import { adminSuite } from './admin.js';
import { daemonSuite } from './daemon.js';
import { watchSuite } from './watch.js';
import { integritySuite } from './integrity.js';
import { hooksSuite } from './hooks.js';
import { e2eSuite } from './e2e.js';
import { eventsSuite } from './events.js';
import { fleetSuite } from './fleet.js';
import { notifySuite } from './notify.js';
import { packageSuite } from './package.js';

export const suites: BenchSuite[] = [
  engineSuite,
  sourcesSuite,
  adminSuite,
  watchSuite,
  daemonSuite,
  eventsSuite,
  e2eSuite,
  integritySuite,
  hooksSuite,
  fleetSuite,
  notifySuite,
  packageSuite,
];
