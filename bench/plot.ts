// A dependency-free SVG bar chart for benchmark results.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export function writeBarChart(path: string, title: string, bars: Array<{ label: string; value: number }>): string {
  const width = 640;
  const barHeight = 28;
  // Room for the longest label (about 7.5 px per character at 14 px).
  const left = Math.max(110, 12 + Math.ceil(7.5 * Math.max(0, ...bars.map((b) => b.label.length))));
  const top = 40;
  const height = top + bars.length * (barHeight + 10) + 20;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const rows = bars.map((b, i) => {
    const y = top + i * (barHeight + 10);
    const w = Math.max(1, ((width - left - 120) * b.value) / max);
    return [
      `<text x="${left - 8}" y="${y + barHeight * 0.68}" text-anchor="end">${escape(b.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${i === 0 ? "#2f6fdf" : "#9aa5b1"}"/>`,
      `<text x="${left + w + 6}" y="${y + barHeight * 0.68}">${Math.round(b.value).toLocaleString("en-US")}</text>`,
    ].join("");
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="14">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="24" text-anchor="middle" font-weight="bold">${escape(title)}</text>
${rows.join("\n")}
</svg>
`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, svg);
  return path;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}
