// Every benchmark suite, in run order. Add a suite by importing it here.
import type { BenchSuite } from '../harness.js';
import { sourcesSuite } from './sources.js';
import { daemonSuite } from './daemon.js';

export const suites: BenchSuite[] = [sourcesSuite, daemonSuite];
