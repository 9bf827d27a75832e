// Every benchmark suite, in run order. Add a suite by importing it here.
import type { BenchSuite } from '../harness.js';
import { sourcesSuite } from './sources.js';

export const suites: BenchSuite[] = [sourcesSuite];
