// A Dockerfile read the way the builder reads it: comments dropped, lines
// continued with a trailing backslash joined, each instruction with its
// build stage (0 for the first FROM). Enough for static checks; no engine.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  keyword: string;
  args: string;
  /** Index of the FROM this instruction belongs to. */
  stage: number;
}

function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // Comment lines are dropped, also in the middle of a continued instruction.
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    const continued = line.endsWith('\\');
    pending += `${continued ? line.slice(0, -1) : line} `;
    if (continued) continue;
    const m = /^(\S+)\s*(.*)$/.exec(pending.trim())!;
    pending = '';
    const keyword = m[1]!.toUpperCase();
    if (keyword === 'FROM') stage += 1;
    out.push({ keyword, args: m[2]!.replace(/\s+/g, ' ').trim(), stage });
  }
  return out;
}

export function readDockerfile(root: string): Instruction[] {
  return parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
}

/** The HEALTHCHECK's command as argv (exec form). */
export function healthcheckArgv(instructions: Instruction[]): string[] {
  const hc = instructions.find((i) => i.keyword === 'HEALTHCHECK');
  if (!hc) throw new Error('no HEALTHCHECK');
  const cmd = /\bCMD (\[.*\])$/.exec(hc.args);
  if (!cmd) throw new Error(`HEALTHCHECK is not in exec form: ${hc.args}`);
  return JSON.parse(cmd[1]!) as string[];
}
