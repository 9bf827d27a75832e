// Text from the environment read as YAML reads a plain (unquoted) scalar:
// the YAML 1.2 core schema. `8080` is a number, `true` a boolean, `null` (or
// `~`, or nothing) null, anything else the string itself. Written out here
// rather than by calling the YAML parser: text such as `a: b`, `- x` or
// `*ref` must stay a string, not become a mapping, a list or an error.

const NULL = /^(?:~|null|Null|NULL)?$/;
const BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const DECIMAL = /^[-+]?[0-9]+$/;
const OCTAL = /^0o[0-7]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INFINITY = /^[-+]?(?:\.inf|\.Inf|\.INF)$/;
const NAN = /^(?:\.nan|\.NaN|\.NAN)$/;

/** The value of `text` as a plain YAML scalar; an integer too large to be exact stays text. */
function readScalar(text: string): unknown {
  if (NULL.test(text)) return null;
  if (BOOL.test(text)) return text[0] === 't' || text[0] === 'T';
  if (DECIMAL.test(text) || OCTAL.test(text) || HEX.test(text)) {
    const n = DECIMAL.test(text) ? Number(text) : Number.parseInt(text.slice(2), text[1] === 'o' ? 8 : 16);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (FLOAT.test(text)) return Number(text);
  if (INFINITY.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (NAN.test(text)) return Number.NaN;
  return text;
}

/**
 * A value from the environment: a JSON list or object when it is one
 * (`[…]`, `{…}`), else readScalar; but empty text stays the empty string
 * (`${VAR:-}` is the shell's way to say "empty", not "null").
 */
export function readEnvText(text: string): unknown {
  if (text === '') return '';
  if (/^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return readScalar(text);
}

/** A value a source typed from environment text, at its path in the source's value, with that text. */
export interface TypedText {
  path: (string | number)[];
  text: string;
}
