// reloadkit's own version, reported by `status` and the reloadkit_build_info
// metric (`reloadkit --version` prints the same field). Both bundles (the
// library's dist/index.js and the CLI's) inline package.json; from the
// sources it is read two levels up from src/admin/.
import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
