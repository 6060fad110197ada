#!/usr/bin/env python3
"""Prints load-test results as a table and draws them as an SVG chart.

usage: report.py results.jsonl [--last N] [--chart out.svg]

Rows without a native run (the low-load rows l1, l4, ...) show "-" in the
native columns and no native bar; the consumer rows (f, g) give records per
GET instead of records per Kafka batch, and their latency is per GET.
The floor row (n, bare actix-web) has no Kafka columns; when the rows shown
include one, the one-record-a-request rows (a and its variants, l...) get
"CPU ratio to floor": their CPU per request over the floor's in the same
run, and the a rows their requests/s over the floor's. a-tls gets its
requests/s over the plain a row's of the same run.
"""
import argparse
import json

COLUMNS = [
    ("scenario", "scenario", "{}"),
    ("label", "run", "{}"),
    ("security", "security", "{}"),
    ("requests_per_second", "requests/s", "{:,.0f}"),
    ("records_per_second", "records/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("p999_ms", "p99.9 ms", "{:.1f}"),
    ("cpu_seconds_per_million_records", "CPU s / M records", "{:.1f}"),
    ("native_cpu_seconds_per_million_records", "native CPU s / M records", "{:.1f}"),
    ("cpu_ratio_to_native", "CPU ratio to native", "{:.2f}"),
    ("cpu_ratio_to_floor", "CPU ratio to floor", "{:.2f}"),
    ("requests_ratio_to_floor", "requests/s ratio to floor", "{:.2f}"),
    ("requests_ratio_to_plain", "requests/s ratio to plain", "{:.2f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
    ("records_per_batch", "records / batch", "{:.0f}"),
    ("records_per_request", "records / GET", "{:,.0f}"),
    ("native_records_per_second", "native records/s", "{:,.0f}"),
    ("ratio_to_native", "ratio to native", "{:.2f}"),
    ("errors", "errors", "{:.0f}"),
]


def table(rows):
    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(
            f.format(r[k]) if k in r else "-" for k, _, f in COLUMNS) + " |")
    return "\n".join(lines)


def chart(rows, path):
    """Two bar panels: records/s (gateway and native) and p99 latency."""
    width, height, pad = 760, 300, 50
    panel_w = (width - 3 * pad) / 2
    names = [f"{r['scenario']} ({r['label']})" for r in rows]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 90}" '
           'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>']

    def panel(x0, title, series, unit):
        top = max(max(v for v in s[1]) for s in series) or 1
        out.append(f'<text x="{x0}" y="20" font-size="13" font-weight="bold">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{height}" x2="{x0 + panel_w}" y2="{height}" stroke="black"/>')
        group = panel_w / max(len(rows), 1)
        bar = group * 0.8 / len(series)
        for i, name in enumerate(names):
            for j, (label, values, colour) in enumerate(series):
                v = values[i]
                if not v:  # no such figure for this row (no native run)
                    continue
                h = (height - 40) * v / top
                x = x0 + i * group + group * 0.1 + j * bar
                out.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar:.1f}" '
                           f'height="{h:.1f}" fill="{colour}"><title>{label}: {v:,.1f} {unit}</title></rect>')
                out.append(f'<text x="{x + bar / 2:.1f}" y="{height - h - 3:.1f}" text-anchor="middle" '
                           f'font-size="9">{v:,.0f}</text>')
            out.append(f'<text x="{x0 + i * group + group / 2:.1f}" y="{height + 15}" '
                       f'text-anchor="middle">{name}</text>')
        for j, (label, _, colour) in enumerate(series):
            out.append(f'<rect x="{x0 + j * 120}" y="{height + 35}" width="10" height="10" fill="{colour}"/>')
            out.append(f'<text x="{x0 + j * 120 + 14}" y="{height + 44}">{label}</text>')

    panel(pad, "records/s", [
        ("gateway", [r["records_per_second"] for r in rows], "#1f77b4"),
        ("native librdkafka", [r.get("native_records_per_second", 0) for r in rows], "#aaaaaa"),
    ], "records/s")
    panel(2 * pad + panel_w, "latency (ms)", [
        ("p50", [r["p50_ms"] for r in rows], "#2ca02c"),
        ("p99", [r["p99_ms"] for r in rows], "#ff7f0e"),
    ], "ms")
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--last", type=int, default=0)
    parser.add_argument("--chart")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    if args.last:
        rows = rows[-args.last:]
    floors = [r for r in rows if r["scenario"] == "n"]
    if floors:
        floor = floors[-1]
        for r in rows:
            if r["scenario"].split("-")[0] == "a" or r["scenario"].startswith("l"):
                r["cpu_ratio_to_floor"] = (r["cpu_seconds_per_million_records"]
                                           / floor["cpu_seconds_per_million_records"])
            if r["scenario"].split("-")[0] == "a":
                r["requests_ratio_to_floor"] = (r["requests_per_second"]
                                                / floor["requests_per_second"])
    plain = [r for r in rows if r["scenario"] == "a"]
    if plain:
        for r in rows:
            if r["scenario"] == "a-tls":
                r["requests_ratio_to_plain"] = (r["requests_per_second"]
                                                / plain[-1]["requests_per_second"])
    print(table(rows))
    if args.chart:
        chart(rows, args.chart)
        print(f"\nchart: {args.chart}")


if __name__ == "__main__":
    main()
