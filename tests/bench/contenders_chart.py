#!/usr/bin/python3
"""Draws tests/bench/results/contenders.png from contenders.csv (written by
contenders.py): for each workload, median wall time per contender with its
min–max range (top row), and median peak RSS of the process tree (bottom row).
edgefetch's bars are highlighted; workload 1 shows its lower bound.

    contenders_chart.py CONTENDERS_CSV OUT_PNG

Needs Debian's python3-matplotlib.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WORKLOADS = (
    ("lesson", "1. lesson: 12 photos,\n100–300 ms TTFB, 3 MB/s per connection"),
    ("photos", "2. photos: 2–12 MP,\nno latency (per round)"),
    ("small", "3. many small: 64×64,\nno latency (per round)"),
)


def load(path):
    summary = {}   # workload -> {key: {metric: value}}
    order = {}     # workload -> keys in first-seen order
    items = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            workload, key = row["workload"], row["contender"]
            if row["round"] == "median":
                summary.setdefault(workload, {}).setdefault(key, {})[row["metric"]] = row["value"]
                order.setdefault(workload, [])
                if key not in order[workload]:
                    order[workload].append(key)
            elif row["metric"] == "items" and row["round"] == "1":
                items[(workload, key)] = row["value"]
    return summary, order, items


def colour(key):
    if key.startswith("ef"):
        return "#1f6fb4"
    if key.startswith("py"):
        return "#e08a1e"
    return "#7f7f7f"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    summary, order, items = load(sys.argv[1])
    present = [(w, title) for w, title in WORKLOADS if w in summary]
    if not present:
        sys.exit("no workload in the CSV")
    fig, axes = plt.subplots(2, len(present), figsize=(6.2 * len(present), 9.5), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    for col, (workload, title) in enumerate(present):
        keys = order[workload]
        data = summary[workload]
        labels = [data[k]["label"] for k in keys]
        walls = [float(data[k]["wall_median_s"]) for k in keys]
        low = [w - float(data[k]["wall_min_s"]) for k, w in zip(keys, walls)]
        high = [float(data[k]["wall_max_s"]) - w for k, w in zip(keys, walls)]
        rss = [float(data[k]["peak_rss_median_kib"]) / 1024 for k in keys]
        colours = [colour(k) for k in keys]
        ypos = list(range(len(keys)))[::-1]
        n_items = items.get((workload, keys[0]), "?")

        ax = axes[0][col]
        ax.barh(ypos, walls, xerr=[low, high], color=colours, capsize=3, ecolor="#333333")
        ax.set_yticks(ypos)
        ax.set_yticklabels([wrap(label) for label in labels], fontsize=8)
        log_scale = max(walls) / min(walls) > 20
        ax.set_xlabel(f"wall time, s{' (log scale)' if log_scale else ''}\n"
                      f"{n_items} items per run; median, min–max")
        ax.set_title(title, fontsize=10)
        for y, wall, up, key in zip(ypos, walls, high, keys):
            ratio = data[key].get("ratio_median")
            text = f"{wall:.2f} s" + (f"  ×{float(ratio):.2f}" if ratio else "")
            ax.text(wall + up, y, "  " + text, va="center", fontsize=7.5)
        if workload == "lesson" and "lower_bound_s" in data.get("ef", {}):
            bound = float(data["ef"]["lower_bound_s"])
            ax.axvline(bound, color="#2ca02c", linestyle="--", linewidth=1)
            ax.text(bound, max(ypos) + 0.6, f" lower bound {bound:.2f} s", color="#2ca02c",
                    fontsize=8, va="bottom")
        if log_scale:
            ax.set_xscale("log")
            ax.set_xlim(min(walls) / 2, max(w + h for w, h in zip(walls, high)) * 6)
        else:
            ax.set_xlim(0, max(w + h for w, h in zip(walls, high)) * 1.4)
        ax.set_ylim(-0.6, max(ypos) + 1.2)
        ax.grid(axis="x", alpha=0.3)

        ax = axes[1][col]
        ax.barh(ypos, rss, color=colours)
        ax.set_yticks(ypos)
        ax.set_yticklabels([wrap(label) for label in labels], fontsize=8)
        ax.set_xlabel("peak RSS of the process tree, MiB (median)")
        for y, value in zip(ypos, rss):
            ax.text(value, y, f"  {value:.0f}", va="center", fontsize=7.5)
        ax.set_xlim(0, max(rss) * 1.25)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("edgefetch vs the alternatives (2 cores; ×N = contender / edgefetch per round, "
                 "median; blue edgefetch, orange the lesson's scripts, grey vips pipelines)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(sys.argv[2], dpi=110)
    return 0


def wrap(text, width=34):
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
