// Hand-written SVG for latency CDFs (no plotting dependency): one panel per
// edit script, one step line per contender, log-scaled milliseconds. Edits a
// contender never applied keep its curve below 1: the plateau is the share of
// edits it applied at all.
import { percentile } from './harness.js';

interface CdfLine {
  name: string;
  /** Latencies of the applied edits, in ms. */
  samples: number[];
  /** Edits in the script (applied or not). */
  total: number;
  /** Appended to the line's figures under the panel (e.g. reloads per edit). */
  extra?: string;
}

export interface CdfPanel {
  title: string;
  lines: CdfLine[];
}

export interface CdfPlot {
  title: string;
  subtitle: string;
  panels: CdfPanel[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const X_MIN = 1;
const X_MAX = 3000;
const X_TICKS = [1, 3, 10, 30, 100, 300, 1000, 3000];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fix = (n: number) => (Math.round(n * 10) / 10).toString();

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  return ms >= 100 ? `${Math.round(ms)}` : ms >= 10 ? ms.toFixed(0) : ms.toFixed(1);
}

export function cdfSvg(plot: CdfPlot): string {
  const cols = Math.min(4, plot.panels.length);
  const rows = Math.ceil(plot.panels.length / cols);
  const pw = 330;
  const ph = 270;
  const margin = { left: 46, right: 12, top: 28, bottom: 84 };
  const header = 78;
  const width = cols * pw + 20;
  const height = header + rows * ph + 10;
  const names = [...new Set(plot.panels.flatMap((p) => p.lines.map((l) => l.name)))];
  const color = (name: string) => COLORS[names.indexOf(name) % COLORS.length]!;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(plot.title)}</text>`,
    `<text x="10" y="38" fill="#444">${esc(plot.subtitle)}</text>`,
  );
  names.forEach((name, i) => {
    const x = 10 + i * 210;
    out.push(`<line x1="${x}" y1="58" x2="${x + 24}" y2="58" stroke="${color(name)}" stroke-width="2.5"/>`, `<text x="${x + 30}" y="62">${esc(name)}</text>`);
  });
  plot.panels.forEach((panel, idx) => {
    const ox = 10 + (idx % cols) * pw;
    const oy = header + Math.floor(idx / cols) * ph;
    const x0 = ox + margin.left;
    const y0 = oy + margin.top;
    const w = pw - margin.left - margin.right;
    const h = ph - margin.top - margin.bottom;
    const sx = (ms: number) => x0 + (w * (Math.log10(Math.min(X_MAX, Math.max(X_MIN, ms))) - Math.log10(X_MIN))) / (Math.log10(X_MAX) - Math.log10(X_MIN));
    const sy = (f: number) => y0 + h * (1 - f);
    out.push(`<text x="${ox + margin.left}" y="${oy + 16}" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
    for (const t of X_TICKS) {
      out.push(
        `<line x1="${fix(sx(t))}" y1="${y0}" x2="${fix(sx(t))}" y2="${y0 + h}" stroke="#eee"/>`,
        `<text x="${fix(sx(t))}" y="${y0 + h + 13}" text-anchor="middle" fill="#444">${t}</text>`,
      );
    }
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      out.push(
        `<line x1="${x0}" y1="${fix(sy(f))}" x2="${x0 + w}" y2="${fix(sy(f))}" stroke="#eee"/>`,
        `<text x="${x0 - 4}" y="${fix(sy(f) + 4)}" text-anchor="end" fill="#444">${f}</text>`,
      );
    }
    out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 26}" text-anchor="middle" fill="#444">ms from the edit to nginx serving it (log)</text>`);
    panel.lines.forEach((line, li) => {
      const sorted = [...line.samples].sort((a, b) => a - b);
      const pts: string[] = [`${fix(sx(X_MIN))},${fix(sy(0))}`];
      sorted.forEach((s, i) => {
        pts.push(`${fix(sx(s))},${fix(sy(i / line.total))}`, `${fix(sx(s))},${fix(sy((i + 1) / line.total))}`);
      });
      pts.push(`${fix(sx(X_MAX))},${fix(sy(sorted.length / line.total))}`);
      out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color(line.name)}" stroke-width="2" stroke-opacity="0.85"/>`);
      const missed = line.total - sorted.length;
      const label = `p50 ${fmtMs(percentile(sorted, 50))} · p99 ${fmtMs(percentile(sorted, 99))} ms · missed ${missed}/${line.total}${line.extra ? ` · ${line.extra}` : ''}`;
      out.push(`<text x="${x0}" y="${y0 + h + 40 + li * 11}" fill="${color(line.name)}">${esc(label)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
