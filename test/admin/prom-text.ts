// A strict checker for the Prometheus text exposition format (0.0.4): every
// line must be HELP, TYPE, a comment, blank, or a well-formed sample.
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  help: Map<string, string>;
  type: Map<string, string>;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
// Prometheus parses values with Go's strconv.ParseFloat, which takes NaN in any case
// (prom-client writes `Nan` for an empty event-loop histogram).
const VALUE = '(?:[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?Inf|[Nn][Aa][Nn])';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL}=${LABEL_VALUE})(?:,${LABEL}=${LABEL_VALUE})*,?)?\\})? (${VALUE})(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** Parses the text; throws naming the first line that breaks the grammar. */
export function parseExposition(text: string): Exposition {
  const out: Exposition = { samples: [], help: new Map(), type: new Map() };
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = HELP.exec(line))) out.help.set(m[1]!, m[2]!);
    else if ((m = TYPE.exec(line))) out.type.set(m[1]!, m[2]!);
    else if (line.startsWith('#')) {
      if (line.startsWith('# HELP') || line.startsWith('# TYPE')) throw new Error(`line ${i + 1}: malformed: ${line}`);
    } else if ((m = SAMPLE.exec(line))) {
      const labels: Record<string, string> = {};
      for (const lm of (m[2] ?? '').matchAll(new RegExp(`(${LABEL})=(${LABEL_VALUE})`, 'g'))) {
        labels[lm[1]!] = JSON.parse(lm[2]!.replace(/\\n/g, '\\n')) as string;
      }
      const v = m[3]!;
      out.samples.push({ name: m[1]!, labels, value: v.endsWith('Inf') ? (v.startsWith('-') ? -Infinity : Infinity) : Number(v) });
    } else {
      throw new Error(`line ${i + 1} is not valid exposition text: ${JSON.stringify(line)}`);
    }
  });
  return out;
}

/** The value of one sample (by name and exact labels), or undefined. */
export function sampleValue(exp: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return exp.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
