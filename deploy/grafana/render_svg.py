#!/usr/bin/env python3
"""Draws a Grafana dashboard's panels as one SVG picture, from a real
Prometheus: every target of every panel is run as a range query
(/api/v1/query_range) and drawn as a line chart, laid out by the panels'
gridPos (24 columns), each titled, with its y axis's min and max and the
time range's start and end. Standard library only; no Grafana needed.

    python3 deploy/grafana/render_svg.py deploy/grafana/kafka-gateway.json \\
        http://localhost:9090 --minutes 30 --out dashboard.svg

Grafana's variables are put in as Grafana would: $__interval is the step,
$__rate_interval is max(step + scrape interval, 4 x scrape interval),
$instance (or any other variable) is `.*` unless given with --var.
tests/python/test_monitoring.py renders docs/dashboard.svg with it.
"""
import argparse
import datetime
import json
import math
import re
import sys
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

COLUMN = 60  # pixels per gridPos column (24 columns)
ROW = 30  # pixels per gridPos row, as Grafana draws them
GAP = 8
HEADER = 44
COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2",
          "#b877d9", "#705da0", "#37872d", "#fade2a", "#447ebc", "#c15c17"]
BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
DIM = "#8e8e9e"


def expand(expr, values):
    """`expr` with Grafana's variables ($name, ${name}, ${name:fmt},
    [[name]]) replaced from `values` (name -> text); the longest names
    first, so $__rate_interval is not taken for $__rate."""
    for name in sorted(values, key=len, reverse=True):
        value = values[name]
        expr = re.sub(r"\$\{" + re.escape(name) + r"(:[^}]*)?\}", lambda _m: value, expr)
        expr = expr.replace("[[" + name + "]]", value)
        expr = re.sub(r"\$" + re.escape(name) + r"(?![A-Za-z0-9_])", lambda _m: value, expr)
    return expr


def duration(seconds):
    """Seconds as a Prometheus duration (`90s`, `1m`)."""
    seconds = max(1, int(math.ceil(seconds)))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def parse_duration(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return float(m.group(1)) * units[m.group(2)]


def grafana_values(step, scrape_interval, variables=None):
    """What Grafana puts in for its built-in variables at this step."""
    values = {
        "__interval": duration(step),
        "__interval_ms": str(int(step * 1000)),
        "__rate_interval": duration(max(step + scrape_interval, 4 * scrape_interval)),
    }
    values.update(variables or {})
    return values


def dashboard_variables(dashboard):
    """Every templating variable but the datasource one, as `.*`."""
    names = [v.get("name") for v in dashboard.get("templating", {}).get("list", [])
             if v.get("type") not in ("datasource", "constant") and v.get("name")]
    return {name: ".*" for name in names}


def prometheus(url, path, params, timeout=30):
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url.rstrip('/')}{path}?{query}", timeout=timeout) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {body}")
    return body["data"]


def query_range(url, expr, start, end, step):
    """[(labels, [(t, value)])] of a range query; NaN and Inf kept as
    float values (they are skipped when drawn)."""
    data = prometheus(url, "/api/v1/query_range",
                      {"query": expr, "start": start, "end": end, "step": step})
    return [(s["metric"], [(float(t), float(v)) for t, v in s["values"]])
            for s in data["result"]]


def legend(fmt, labels, expr):
    if not fmt or fmt == "__auto":
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        return labels.get("__name__", "") + ("{" + inner + "}" if inner else "") or expr
    return re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
                  lambda m: labels.get(m.group(1), ""), fmt)


def si(value, suffix=""):
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{suffix}"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}{suffix}"
    return f"{value:.3g}{suffix}"


def fmt(value, unit):
    """A value as Grafana would label it in this unit (roughly)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return "n/a"
    if unit == "s":
        a = abs(value)
        if a == 0:
            return "0 s"
        if a < 1e-3:
            return f"{value * 1e6:.3g} µs"
        if a < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    if unit in ("bytes", "Bps"):
        rate = "/s" if unit == "Bps" else ""
        for factor, name in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(value) >= factor:
                return f"{value / factor:.3g} {name}{rate}"
        return f"{value:.3g} B{rate}"
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "percent":
        return f"{value:.3g}%"
    return si(value, {"reqps": " req/s", "cps": " /s", "ops": " ops/s"}.get(unit, ""))


def series_of(panel, url, start, end, step, values):
    """[(name, unit, points)] of a panel's targets, by range query."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit", "short")
    overrides = {}
    for o in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = o.get("matcher", {})
        for p in o.get("properties", []):
            if p.get("id") == "unit" and matcher.get("id") == "byName":
                overrides[matcher.get("options")] = p.get("value")
    out = []
    for target in panel.get("targets", []):
        if target.get("hide") or not target.get("expr"):
            continue
        expr = expand(target["expr"], values)
        for labels, points in query_range(url, expr, start, end, step):
            name = legend(target.get("legendFormat"), labels, expr)
            out.append((name, overrides.get(name, unit), points))
    return out


def finite(v):
    return not (math.isnan(v) or math.isinf(v))


def draw_panel(panel, series, start, end, x0, y0, width, height):
    """SVG elements of one panel."""
    el = [f'<rect x="{x0}" y="{y0}" width="{width}" height="{height}" rx="3" '
          f'fill="{PANEL}" stroke="{BORDER}"/>']
    title = panel.get("title", "")
    el.append(f'<text x="{x0 + 8}" y="{y0 + 17}" fill="{TEXT}" font-size="12" '
              f'font-weight="600">{escape(title)}</text>')
    unit = series[0][1] if series else "short"
    values = [v for _, _, pts in series for _, v in pts if finite(v)]
    if not values:
        el.append(f'<text x="{x0 + width / 2}" y="{y0 + height / 2 + 6}" fill="{DIM}" '
                  f'font-size="13" text-anchor="middle">No data</text>')
        return el
    lo, hi = min(values), max(values)
    lo = min(lo, 0.0)
    if hi <= lo:
        hi = lo + 1.0
    # Legend lines at the bottom: as many as fit in a quarter of the panel.
    names = [name for name, _, _ in series]
    stat = panel.get("type") == "stat"
    per_line = max(1, int((width - 16) // 150))
    entry = min(300, (width - 16) / min(len(names), per_line))
    legend_lines = min(math.ceil(len(names) / per_line), max(1, int(height * 0.25 // 14)))
    if stat and len(names) == 1:
        legend_lines = 0  # the value says it
    left, right = x0 + 62, x0 + width - 10
    top = y0 + 28
    bottom = y0 + height - 20 - 14 * legend_lines
    if stat:
        # The last value of each series, large, above a sparkline.
        shown = series[:3]
        text = "  ".join(fmt(next((v for _, v in reversed(p) if finite(v)), float("nan")), u)
                         for _, u, p in shown)
        size = max(12, min(28, int((width - 20) / max(1, len(text)) * 1.6), int(height * 0.3)))
        el.append(f'<text x="{x0 + width / 2}" y="{top + size}" fill="{COLORS[0]}" '
                  f'font-size="{size}" font-weight="600" text-anchor="middle">{escape(text)}</text>')
        top = top + size + 6
    if bottom - top < 10:
        bottom = top + 10
    span = max(end - start, 1e-9)

    def px(t, v):
        return (left + (t - start) / span * (right - left),
                bottom - (v - lo) / (hi - lo) * (bottom - top))

    # Axes: min and max of y, start and end of x, a middle grid line.
    el.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{BORDER}"/>')
    el.append(f'<line x1="{left}" y1="{top}" x2="{right}" y2="{top}" stroke="{BORDER}" '
              f'stroke-dasharray="2,3"/>')
    el.append(f'<line x1="{left}" y1="{(top + bottom) / 2}" x2="{right}" y2="{(top + bottom) / 2}" '
              f'stroke="{BORDER}" stroke-dasharray="2,3"/>')
    el.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="{BORDER}"/>')
    el.append(f'<text x="{left - 4}" y="{top + 4}" fill="{DIM}" font-size="10" '
              f'text-anchor="end">{escape(fmt(hi, unit))}</text>')
    el.append(f'<text x="{left - 4}" y="{bottom}" fill="{DIM}" font-size="10" '
              f'text-anchor="end">{escape(fmt(lo, unit))}</text>')
    clock = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S")
    el.append(f'<text x="{left}" y="{bottom + 12}" fill="{DIM}" font-size="10">{clock(start)}</text>')
    el.append(f'<text x="{right}" y="{bottom + 12}" fill="{DIM}" font-size="10" '
              f'text-anchor="end">{clock(end)} UTC</text>')
    for i, (name, _, points) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        runs, run = [], []
        for t, v in points:
            if finite(v):
                run.append(px(t, v))
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        for run in runs:
            if len(run) == 1:
                x, y = run[0]
                el.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.5" fill="{color}"/>')
            else:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                el.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                          f'stroke-width="1.5"/>')
    for i, name in enumerate(names[:per_line * legend_lines]):
        line, col = divmod(i, per_line)
        lx = x0 + 8 + col * entry
        ly = bottom + 26 + line * 14
        color = COLORS[i % len(COLORS)]
        chars = max(8, int(entry / 6.2) - 3)
        label = name if len(name) <= chars else name[:chars - 1] + "…"
        el.append(f'<rect x="{lx:.1f}" y="{ly - 7}" width="10" height="3" fill="{color}"/>')
        el.append(f'<text x="{lx + 14:.1f}" y="{ly - 2}" fill="{TEXT}" font-size="10">'
                  f'{escape(label)}</text>')
    hidden = len(names) - per_line * legend_lines
    if hidden > 0 and legend_lines:
        el.append(f'<text x="{x0 + width - 8}" y="{y0 + 17}" fill="{DIM}" font-size="10" '
                  f'text-anchor="end">+{hidden} more series</text>')
    return el


def render(dashboard, url, start, end, step=None, scrape_interval=15.0, variables=None):
    """The SVG text of `dashboard` over [start, end] (Unix seconds)."""
    step = step or max(1.0, (end - start) / 240)
    values = grafana_values(step, scrape_interval,
                            dict(dashboard_variables(dashboard), **(variables or {})))
    panels = [p for p in dashboard.get("panels", []) if "gridPos" in p]
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    width = 24 * COLUMN + GAP
    height = HEADER + rows * ROW + GAP
    clock = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")
    el = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
          f'viewBox="0 0 {width} {height}" font-family="Inter, Helvetica, Arial, sans-serif">',
          f'<rect width="{width}" height="{height}" fill="{BACKGROUND}"/>',
          f'<text x="{GAP}" y="26" fill="{TEXT}" font-size="18" font-weight="600">'
          f'{escape(dashboard.get("title", ""))}</text>',
          f'<text x="{width - GAP}" y="26" fill="{DIM}" font-size="11" text-anchor="end">'
          f'{clock(start)} to {clock(end)} UTC, step {step:g} s, '
          f'$__rate_interval = {values["__rate_interval"]}</text>']
    for panel in panels:
        g = panel["gridPos"]
        x0 = GAP + g["x"] * COLUMN
        y0 = HEADER + g["y"] * ROW
        series = series_of(panel, url, start, end, step, values)
        el.append(f'<g id="panel-{panel.get("id", "")}">')
        el.extend(draw_panel(panel, series, start, end, x0, y0,
                             g["w"] * COLUMN - GAP, g["h"] * ROW - GAP))
        el.append("</g>")
    el.append("</svg>")
    return "\n".join(el) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dashboard", help="the dashboard's JSON file")
    ap.add_argument("prometheus", help="Prometheus's URL, e.g. http://localhost:9090")
    ap.add_argument("--out", default="-", help="the SVG file to write (- for stdout)")
    ap.add_argument("--start", type=float, help="Unix time (default: --minutes ago)")
    ap.add_argument("--end", type=float, help="Unix time (default: now)")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--step", type=float, help="seconds (default: the range / 240)")
    ap.add_argument("--scrape-interval", default="15s")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="a dashboard variable's value (default .*)")
    args = ap.parse_args(argv)
    import time
    end = args.end or time.time()
    start = args.start or end - args.minutes * 60
    with open(args.dashboard) as f:
        dashboard = json.load(f)
    variables = dict(v.split("=", 1) for v in args.var)
    svg = render(dashboard, args.prometheus, start, end, args.step,
                 parse_duration(args.scrape_interval), variables)
    if args.out == "-":
        sys.stdout.write(svg)
    else:
        with open(args.out, "w") as f:
            f.write(svg)


if __name__ == "__main__":
    main()
