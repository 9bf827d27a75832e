// reloadkit's own version, reported by `status` and the reloadkit_build_info
// metric (`reloadkit --version` prints the same field). The CLI bundle inlines
// package.json; the library reads it from the package root, two levels up
// from both src/admin/ and dist/admin/.
import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
