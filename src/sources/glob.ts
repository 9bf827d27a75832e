// A tiny glob for file names in one directory: `*` (any run of characters),
// `?` (one character) and `{a,b}` (alternatives, each may use `*` and `?`).
// As in a shell, a wildcard never matches a leading dot, so `.swp` files,
// `..data` and other dotfiles stay out unless the pattern starts with `.`.
// (node:path's matchesGlob is experimental on Node 20, hence our own.)
import { OptionsError } from '../shared/errors.js';

const SPECIAL = /[.+^$()|\\]/;

function invalid(pattern: string, why: string): never {
  throw new OptionsError(`invalid pattern ${JSON.stringify(pattern)}: ${why}`);
}

export function compileGlob(pattern: string): (name: string) => boolean {
  if (typeof pattern !== 'string' || pattern === '') invalid(String(pattern), 'empty');
  if (pattern.includes('/')) invalid(pattern, 'matches names in one directory; no `/`');
  if (/[[\]\\]/.test(pattern)) invalid(pattern, 'only *, ? and {a,b} are supported');
  let source = '';
  let inBraces = false;
  for (const ch of pattern) {
    if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else if (ch === '{') {
      if (inBraces) invalid(pattern, 'nested { }');
      inBraces = true;
      source += '(?:';
    } else if (ch === '}') {
      if (!inBraces) invalid(pattern, 'unmatched }');
      inBraces = false;
      source += ')';
    } else if (ch === ',' && inBraces) source += '|';
    else source += SPECIAL.test(ch) ? `\\${ch}` : ch;
  }
  if (inBraces) invalid(pattern, 'unclosed {');
  const re = new RegExp(`^${source}$`, 'u');
  const dotAllowed = pattern.startsWith('.');
  return (name) => (dotAllowed || !name.startsWith('.')) && re.test(name);
}
