#!/usr/bin/env python3
"""Render the queries of dormouse-dashboard.json to one PNG, from Prometheus.

Grafana is not packaged by Debian, so this draws the dashboard's panels
itself: for every panel it runs the panel's PromQL queries (Grafana's
variables filled in: $instance and $job match everything, $__rate_interval
is --rate-interval) over Prometheus's HTTP API (/api/v1/query_range) and
plots them with matplotlib (Debian: python3-matplotlib), in the dashboard's
own order and two columns. It shows what the queries return, not Grafana's
look.

    contrib/grafana/render.py --prometheus http://127.0.0.1:9090 \\
        --start 2026-12-07T05:14:20Z --end 2026-12-07T05:20:20Z --out docs/img/dashboard.png
"""

import argparse
import datetime
import json
import os
import re
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dormouse-dashboard.json")

# How a panel's unit is shown: (divisor, axis label); bytes and seconds
# are scaled to the largest value (scale).
UNITS = {
    "ops": (1, "per second"),
    "reqps": (1, "per second"),
    "Bps": (1 << 10, "KiB/s"),
    "percentunit": (0.01, "%"),
}


def scale(unit, largest):
    """The divisor and label for a panel of unit whose largest value is largest."""
    if unit == "bytes":
        for div, label in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if largest >= 2 * div:
                return div, label
        return 1, "bytes"
    if unit == "s":
        return (1, "s") if largest >= 10 else (1e-3, "ms")
    return UNITS.get(unit, (1, ""))


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def query_range(base, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, metric):
    if not fmt:
        return ", ".join(f"{k}={v}" for k, v in metric.items() if k != "__name__") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--start", required=True, help="UTC, ISO 8601")
    ap.add_argument("--end", required=True, help="UTC, ISO 8601")
    ap.add_argument("--step", default="5s")
    ap.add_argument("--rate-interval", default="30s", help="what $__rate_interval becomes")
    ap.add_argument("--dpi", type=int, default=64)
    ap.add_argument("--out", default="dashboard.png")
    a = ap.parse_args()

    with open(DASHBOARD) as f:
        dash = json.load(f)
    fill = {"$instance": ".*", "$job": ".*", "$__rate_interval": a.rate_interval}
    panels = sorted((p for p in dash["panels"] if p["type"] != "row"),
                    key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    start, end = parse_time(a.start), parse_time(a.end)

    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(13, 2.3 * rows), squeeze=False)
    for ax, p in zip(axes.flat, panels):
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        lines = []
        for t in p.get("targets", []):
            expr = t["expr"]
            for k, v in fill.items():
                expr = expr.replace(k, v)
            for series in query_range(a.prometheus, expr, start, end, a.step):
                xs = [datetime.datetime.fromtimestamp(float(ts), datetime.timezone.utc) for ts, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                lines.append((xs, ys, legend(t.get("legendFormat"), series["metric"])))
        finite = [y for _, ys, _ in lines for y in ys if y == y and abs(y) != float("inf")]
        div, label = scale(unit, max(finite, default=0))
        for xs, ys, name in lines:
            ax.plot(xs, [y / div for y in ys], linewidth=1, label=name)
        ax.set_xlim(datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                    datetime.datetime.fromtimestamp(end, datetime.timezone.utc))
        ax.set_title(p["title"], fontsize=9, loc="left")
        ax.set_ylabel(label, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=datetime.timezone.utc))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper left", ncol=3, frameon=False)
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", fontsize=8, color="gray")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{dash['title']}: the dashboard's queries, {a.start} to {a.end} (UTC), rendered from Prometheus (not Grafana)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(a.out, dpi=a.dpi)


if __name__ == "__main__":
    main()
