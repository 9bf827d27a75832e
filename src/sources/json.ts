// A strict JSON syntax checker that says where the first error is.
//
// JSON.parse builds the value (fast), but its errors are not good enough for
// a config: V8 gives no position for "Unexpected token" and quotes a slice of
// the source (which may hold a secret), and it silently keeps the last of
// duplicate keys. This scanner runs first: RFC 8259 grammar, duplicate keys
// refused, nesting bounded, every error as an offset plus a short message
// that never contains input text.

export interface JsonSyntaxError {
  offset: number;
  message: string;
}

export const MAX_JSON_DEPTH = 1000;

class Fail {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Returns the first syntax error, or null when `text` is one valid JSON value. */
export function findJsonError(text: string): JsonSyntaxError | null {
  let i = 0;
  const n = text.length;
  const fail = (message: string, at = i): never => {
    throw new Fail(at, message);
  };
  const ws = (): void => {
    while (i < n && WS.has(text.charCodeAt(i))) i += 1;
  };

  const string = (): string => {
    const start = i;
    i += 1; // opening quote
    let plain = true;
    for (;;) {
      if (i >= n) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        plain = false;
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('invalid \\u escape in string');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          fail('invalid escape sequence in string');
        }
        continue;
      }
      if (c < 0x20) fail(c === 0x0a ? 'unterminated string (newline inside a string)' : 'control character in string; escape it');
      i += 1;
    }
    i += 1; // closing quote
    const raw = text.slice(start, i);
    return plain ? raw.slice(1, -1) : (JSON.parse(raw) as string);
  };

  const number = (): void => {
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    if (!m.exec(text)) fail('invalid number');
    i = m.lastIndex;
    // `01`, `1.`, `1e`: the valid prefix ends early and a digit or marker follows.
    const next = text[i];
    if (next !== undefined && /[0-9.eE+-]/.test(next)) fail('invalid number');
  };

  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail('unexpected character');
  };

  const value = (depth: number): void => {
    ws();
    if (i >= n) fail('unexpected end of input');
    const c = text[i]!;
    if (c === '{') object(depth + 1);
    else if (c === '[') array(depth + 1);
    else if (c === '"') string();
    else if (c === '-' || (c >= '0' && c <= '9')) number();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else fail('unexpected character');
  };

  // The shared shape of objects and arrays: members separated by commas.
  const members = (depth: number, close: '}' | ']', member: () => void, what: string): void => {
    if (depth > MAX_JSON_DEPTH) fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    i += 1;
    ws();
    if (text[i] === close) {
      i += 1;
      return;
    }
    for (;;) {
      member();
      ws();
      if (text[i] === ',') {
        i += 1;
        ws();
        if (text[i] === close) fail(`trailing comma before '${close}'`);
        continue;
      }
      if (text[i] === close) {
        i += 1;
        return;
      }
      fail(i >= n ? 'unexpected end of input' : `expected ',' or '${close}' after ${what}`);
    }
  };

  const object = (depth: number): void => {
    const keys = new Set<string>();
    members(depth, '}', () => {
      ws();
      if (text[i] !== '"') fail(i >= n ? 'unexpected end of input' : 'expected a double-quoted property name');
      const keyAt = i;
      const key = string();
      if (keys.has(key)) fail('duplicate key', keyAt);
      keys.add(key);
      ws();
      if (text[i] !== ':') fail(i >= n ? 'unexpected end of input' : "expected ':' after property name");
      i += 1;
      value(depth);
    }, 'property value');
  };

  const array = (depth: number): void => members(depth, ']', () => value(depth), 'array element');

  try {
    value(0);
    ws();
    if (i < n) fail('unexpected content after the end of the JSON value');
    return null;
  } catch (err) {
    if (err instanceof Fail) return { offset: err.offset, message: err.message };
    throw err;
  }
}
