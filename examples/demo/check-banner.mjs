// The `banner` target's check: refuses an empty banner, one longer than
// 200 characters, or one that still says TODO. Exit 1 with the reason.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'banner.txt';
const text = readFileSync(file, 'utf8').trim();
const problems = [];
if (text === '') problems.push('the banner is empty');
if (text.length > 200) problems.push(`the banner is ${text.length} characters long (at most 200)`);
text.split('\n').forEach((line, i) => {
  if (/TODO/.test(line)) problems.push(`${file}:${i + 1}: still says TODO`);
});
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
