#!/usr/bin/python3
"""Draws the web-at-scale benchmark's chart from the CSV bench_world.py
writes: per contender, items/s (servable URLs fetched per second of wall
time), the time to 99 % of the servable URLs done (a DNF bar at the cutoff,
hatched), and peak RSS; the lower bounds as dashed lines. Same style as
tests/bench/contenders_chart.py (blue edgefetch, orange the lesson's script,
grey the other tools).

    bench_world_chart.py WORLD_CSV OUT_PNG

Needs Debian's python3-matplotlib.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def colour(name):
    if name.startswith("edgefetch"):
        return "#1f6fb4"
    if name.startswith("lesson"):
        return "#e08a1e"
    return "#7f7f7f"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows, bounds, title = [], [], ""
    with open(sys.argv[1], newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "run":
                rows.append(row)
            elif row["kind"] == "bound":
                bounds.append(row)
            elif row["kind"] == "world":
                title = row["name"]
    if not rows:
        sys.exit("no runs in the CSV")
    names = [r["name"] for r in rows]
    colours = [colour(n) for n in names]
    ypos = list(range(len(rows)))[::-1]
    cutoff = max(float(r["wall_s"]) for r in rows)
    fig, axes = plt.subplots(1, 3, figsize=(17, 0.45 * len(rows) + 2.6), sharey=True)

    ax = axes[0]
    rates = [float(r["items_s"]) for r in rows]
    ax.barh(ypos, rates, color=colours)
    for y, v in zip(ypos, rates):
        ax.text(v, y, f"  {v:.0f}", va="center", fontsize=8)
    for k, b in enumerate(bounds):
        rate = float(b["items_s"])
        ax.axvline(rate, color="#2ca02c", linestyle="--", linewidth=1)
        ax.text(rate, max(ypos) + 0.5 + 0.45 * k, f" bound {b['name']}: {rate:.0f}/s",
                color="#2ca02c", fontsize=7.5, va="bottom")
    ax.set_xlabel("servable items fetched per second of wall time (higher is better)")
    ax.set_yticks(ypos)
    ax.set_yticklabels(names, fontsize=8.5)
    ax.set_xlim(0, max(rates + [float(b["items_s"]) for b in bounds]) * 1.3)
    ax.set_ylim(-0.6, max(ypos) + 1.6)
    ax.grid(axis="x", alpha=0.3)

    ax = axes[1]
    for y, r, c in zip(ypos, rows, colours):
        if r["t99_s"]:
            v = float(r["t99_s"])
            ax.barh(y, v, color=c)
            ax.text(v, y, f"  {v:.1f} s", va="center", fontsize=8)
        else:
            v = float(r["wall_s"])
            ax.barh(y, v, color="white", edgecolor=c, hatch="//")
            ax.text(v, y, f"  DNF ({r['fetched']} done)", va="center", fontsize=8)
    for k, b in enumerate(bounds):
        v = float(b["bound_s"])
        ax.axvline(v, color="#2ca02c", linestyle="--", linewidth=1)
        ax.text(v, max(ypos) + 0.5 + 0.45 * k, f" bound {b['name']}: {v:.1f} s",
                color="#2ca02c", fontsize=7.5, va="bottom")
    ax.set_xlabel("time to 99 % of the servable URLs done, s (lower is better)")
    ax.set_xlim(0, max([cutoff] + [float(b["bound_s"]) for b in bounds]) * 1.35)
    ax.grid(axis="x", alpha=0.3)

    ax = axes[2]
    rss = [float(r["rss_mib"]) if r["rss_mib"] else 0.0 for r in rows]
    ax.barh(ypos, rss, color=colours)
    for y, v, r in zip(ypos, rss, rows):
        ax.text(v, y, f"  {v:.0f}  ({float(r['conns_per_host']):.1f} conn/host)", va="center",
                fontsize=8)
    ax.set_xlabel("peak RSS, MiB (connections per host in brackets)")
    ax.set_xlim(0, max(rss) * 1.6 if max(rss) > 0 else 1)
    ax.grid(axis="x", alpha=0.3)

    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(sys.argv[2], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
