// Text shaping shared by the CLI and the fleet.

/** Several lines of output (a command's stderr) as one line: trimmed, blank lines dropped, joined by " | ". */
export function flattenLines(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' | ');
}
