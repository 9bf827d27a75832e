// A strict JSON syntax checker that says where the first error is.
//
// JSON.parse builds the value (fast), but its errors are not good enough for
// a config: V8 gives no position for "Unexpected token" and quotes a slice of
// the source (which may hold a secret), and it silently keeps the last of
// duplicate keys. This checker runs first: RFC 8259 grammar, duplicate keys
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

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** Stops a scan that found what it looked for. */
class Found {
  constructor(readonly offset: number) {}
}

// A class, not closures: nothing is allocated per call but the key sets.
class Checker {
  private i = 0;
  private readonly n: number;
  /** When looking for a value (`find`): the path of the value being scanned. */
  private readonly trail: (string | number)[] = [];

  constructor(
    private readonly text: string,
    private readonly find?: readonly (string | number)[],
  ) {
    this.n = text.length;
  }

  check(): void {
    this.value(0);
    this.ws();
    if (this.i < this.n) this.fail('unexpected content after the end of the JSON value');
  }

  private fail(message: string, at = this.i): never {
    throw new Fail(at, message);
  }

  private endOr(message: string): never {
    return this.fail(this.i >= this.n ? 'unexpected end of input' : message);
  }

  private ws(): void {
    const t = this.text;
    let i = this.i;
    for (let c = t.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = t.charCodeAt(i)) i += 1;
    this.i = i;
  }

  private value(depth: number): void {
    this.ws();
    if (this.find && this.atFind()) throw new Found(this.i);
    const c = this.text.charCodeAt(this.i);
    if (c === 0x7b /* { */) this.members(depth + 1, true);
    else if (c === 0x5b /* [ */) this.members(depth + 1, false);
    else if (c === 0x22 /* " */) this.string(false);
    else if (c === 0x2d /* - */ || isDigit(c)) this.number();
    else if (c === 0x74 /* t */) this.literal('true');
    else if (c === 0x66 /* f */) this.literal('false');
    else if (c === 0x6e /* n */) this.literal('null');
    else this.endOr('unexpected character');
  }

  /** Scans a string; returns its decoded text only when `decode` (keys). */
  private string(decode: boolean): string {
    const t = this.text;
    const start = this.i;
    let i = start + 1;
    let plain = true;
    for (;;) {
      let c = t.charCodeAt(i);
      while (c >= 0x20 && c !== 0x22 && c !== 0x5c) c = t.charCodeAt(++i);
      if (i >= this.n) this.fail('unterminated string', start);
      if (c === 0x22) break;
      if (c === 0x5c) {
        plain = false;
        const e = t[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) this.fail('invalid \\u escape in string', i);
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          this.fail('invalid escape sequence in string', i);
        }
        continue;
      }
      this.fail(c === 0x0a ? 'unterminated string (newline inside a string)' : 'control character in string; escape it', i);
    }
    this.i = i + 1;
    if (!decode) return '';
    return plain ? t.slice(start + 1, i) : (JSON.parse(t.slice(start, i + 1)) as string);
  }

  private atFind(): boolean {
    const f = this.find!;
    return this.trail.length === f.length && this.trail.every((seg, k) => seg === f[k]);
  }

  private digits(): boolean {
    const from = this.i;
    while (isDigit(this.text.charCodeAt(this.i))) this.i += 1;
    return this.i > from;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, not followed by more number characters.
  private number(): void {
    const t = this.text;
    if (t.charCodeAt(this.i) === 0x2d) this.i += 1;
    if (t.charCodeAt(this.i) === 0x30) this.i += 1;
    else if (!this.digits()) this.fail('invalid number');
    if (t.charCodeAt(this.i) === 0x2e) {
      this.i += 1;
      if (!this.digits()) this.fail('invalid number');
    }
    const e = t.charCodeAt(this.i);
    if (e === 0x65 || e === 0x45) {
      this.i += 1;
      const sign = t.charCodeAt(this.i);
      if (sign === 0x2b || sign === 0x2d) this.i += 1;
      if (!this.digits()) this.fail('invalid number');
    }
    // `01`, `1.2.3`, `1e5e`: the valid prefix ends early and a number character follows.
    const next = t[this.i];
    if (next !== undefined && /[0-9.eE+-]/.test(next)) this.fail('invalid number');
  }

  private literal(word: string): void {
    if (this.text.startsWith(word, this.i)) this.i += word.length;
    else this.fail('unexpected character');
  }

  /** Objects and arrays share their shape: members separated by commas. */
  private members(depth: number, isObject: boolean): void {
    const close = isObject ? 0x7d : 0x5d;
    const closeChar = isObject ? '}' : ']';
    if (depth > MAX_JSON_DEPTH) this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    const keys = isObject ? new Set<string>() : null;
    this.i += 1;
    this.ws();
    if (this.text.charCodeAt(this.i) === close) {
      this.i += 1;
      return;
    }
    for (let index = 0; ; index += 1) {
      if (keys) this.property(keys, depth);
      else if (this.find) {
        this.trail.push(index);
        this.value(depth);
        this.trail.pop();
      } else this.value(depth);
      this.ws();
      const c = this.text.charCodeAt(this.i);
      if (c === 0x2c /* , */) {
        this.i += 1;
        this.ws();
        if (this.text.charCodeAt(this.i) === close) this.fail(`trailing comma before '${closeChar}'`);
        continue;
      }
      if (c === close) {
        this.i += 1;
        return;
      }
      this.endOr(`expected ',' or '${closeChar}' after ${isObject ? 'property value' : 'array element'}`);
    }
  }

  private property(keys: Set<string>, depth: number): void {
    this.ws();
    if (this.text.charCodeAt(this.i) !== 0x22) this.endOr('expected a double-quoted property name');
    const keyAt = this.i;
    const key = this.string(true);
    if (keys.has(key)) this.fail('duplicate key', keyAt);
    keys.add(key);
    this.ws();
    if (this.text.charCodeAt(this.i) !== 0x3a /* : */) this.endOr("expected ':' after property name");
    this.i += 1;
    if (this.find) {
      this.trail.push(key);
      this.value(depth);
      this.trail.pop();
    } else this.value(depth);
  }
}

/** Returns the first syntax error, or null when `text` is one valid JSON value. */
export function findJsonError(text: string): JsonSyntaxError | null {
  try {
    new Checker(text).check();
    return null;
  } catch (err) {
    if (err instanceof Fail) return { offset: err.offset, message: err.message };
    throw err;
  }
}

/** Offset of the value at `path` (object keys and array indexes) in JSON text, or -1 when it is not there. */
export function jsonValueOffset(text: string, path: readonly (string | number)[]): number {
  try {
    new Checker(text, path).check();
  } catch (err) {
    if (err instanceof Found) return err.offset;
  }
  return -1;
}
