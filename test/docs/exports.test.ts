// Every name the package exports, and every option of every exported
// options type, is documented in docs/library.md: the test lists the barrel's
// exports (src/index.ts) with the TypeScript compiler and fails naming each
// one the guide does not mention in code (`name` or a code block).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const index = join(root, 'src/index.ts');

/** The text of every inline code span and code block of a Markdown page. */
function codeOf(markdown: string): string {
  const blocks = [...markdown.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  const prose = markdown.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
  const spans = [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
  return [...blocks, ...spans].join('\n');
}

function api(): { exports: string[]; options: Map<string, string[]> } {
  const program = ts.createProgram([index], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(index)!)!;
  const exported = checker.getExportsOfModule(moduleSymbol);
  const options = new Map<string, string[]>();
  for (const symbol of exported) {
    if (!symbol.name.endsWith('Options')) continue;
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const type = checker.getDeclaredTypeOfSymbol(target);
    const parts = type.isUnion() ? type.types : [type];
    options.set(symbol.name, [...new Set(parts.flatMap((t) => checker.getPropertiesOfType(t).map((p) => p.name)))]);
  }
  return { exports: exported.map((s) => s.name), options };
}

test('docs/library.md mentions every export of the package and every option of its options types', async () => {
  const code = codeOf(await readFile(join(root, 'docs/library.md'), 'utf8'));
  const mentioned = (name: string) => new RegExp(`(^|[^\\w$])${name.replace(/\$/g, '\\$')}([^\\w$]|$)`, 'm').test(code);
  const { exports, options } = api();
  assert.ok(exports.length >= 60, `found only ${exports.length} exports`);
  assert.ok(options.has('ReloaderOptions') && options.get('ReloaderOptions')!.includes('source'));
  assert.deepEqual(
    exports.filter((name) => !mentioned(name)),
    [],
    'exports not mentioned in docs/library.md',
  );
  const undocumented = [...options].flatMap(([type, props]) => props.filter((p) => !mentioned(p)).map((p) => `${type}.${p}`));
  assert.deepEqual(undocumented, [], 'options not mentioned in docs/library.md');
});
