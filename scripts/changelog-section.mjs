// Prints the CHANGELOG.md section of one version (the text under its
// `## [X.Y.Z] - date` heading, without the heading), for the GitHub release
// notes (.github/workflows/release.yml).
//
//   node scripts/changelog-section.mjs 0.1.0 [CHANGELOG.md]
//
// Exit 1 with a message naming the version when the section is missing or
// empty: a release without its notes is refused before anything is published.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function changelogSection(text, version) {
  const lines = text.split('\n');
  const heading = new RegExp(`^## \\[${version.replaceAll('.', '\\.')}\\](\\s|$)`);
  const start = lines.findIndex((l) => heading.test(l));
  if (start === -1) return null;
  let end = lines.findIndex((l, i) => i > start && (l.startsWith('## ') || /^\[[^\]]+\]: /.test(l)));
  if (end === -1) end = lines.length;
  const body = lines
    .slice(start + 1, end)
    .join('\n')
    .trim();
  return body === '' ? null : `${body}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [version, file = fileURLToPath(new URL('../CHANGELOG.md', import.meta.url))] = process.argv.slice(2);
  if (!version || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
    console.error('usage: node scripts/changelog-section.mjs X.Y.Z [CHANGELOG.md]');
    process.exit(2);
  }
  const section = changelogSection(readFileSync(file, 'utf8'), version);
  if (section === null) {
    console.error(`changelog-section: ${file} has no "## [${version}]" section, or it is empty: add the release notes before tagging v${version}`);
    process.exit(1);
  }
  process.stdout.write(section);
}
