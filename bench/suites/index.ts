// Every benchmark suite, in run order. Add a suite by importing it here.
import type { BenchSuite } from '../harness.js';

export const suites: BenchSuite[] = [];
