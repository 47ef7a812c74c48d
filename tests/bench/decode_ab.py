#!/usr/bin/env python3
"""Interleaved A/B of two edgefetch-stage-bench builds (imaging/DECODE.md:
stb_image's JPEG decoder before, libjpeg-turbo after).

  decode_ab.py BEFORE_BIN AFTER_BIN ROUNDS SAMPLES_DIR LARGE_JPEG

Each round runs both binaries (order alternating per round) on the samples and
on the large image, for sobel (luma decode) and tutorial (RGB decode), each run
the median of 3 repeats; prints a Markdown table of the medians over rounds of
decode ms/MP, the median per-round ratio (min-max), and total ms/MP."""
import csv, glob, statistics, subprocess, sys
if len(sys.argv) != 6:
    sys.exit(__doc__)
binaries = {"stb_image 2.27": sys.argv[1], "libjpeg-turbo 2.1.5": sys.argv[2]}
rounds = int(sys.argv[3])
samples = sorted(glob.glob(sys.argv[4] + "/*.jpg"))
large = sys.argv[5]
sets = {"12 samples (1620x1080)": samples, "12 MP (4000x3000 q90)": [large]}
results = {}
for r in range(rounds):
    names = list(binaries) if r % 2 == 0 else list(reversed(binaries))
    for label, files in sets.items():
        for op in ("sobel", "tutorial"):
            for name in names:
                out = subprocess.run([binaries[name], "--operator", op, "--repeat", "3", "--"] + files,
                                     capture_output=True, text=True, check=True).stdout
                total = [row for row in csv.DictReader(out.splitlines()) if row["file"] == "TOTAL"][0]
                results.setdefault((label, op, name), []).append(
                    (float(total["decode_ms_per_mp"]), float(total["total_ms_per_mp"])))
for label in sets:
    for op in ("sobel", "tutorial"):
        what = "luma (1 channel)" if op == "sobel" else "RGB (3 channels)"
        meds = {}
        for name in binaries:
            xs = results[(label, op, name)]
            meds[name] = (statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs))
        a, b = meds["stb_image 2.27"], meds["libjpeg-turbo 2.1.5"]
        ratios = [x[0] / y[0] for x, y in zip(results[(label, op, "stb_image 2.27")],
                                              results[(label, op, "libjpeg-turbo 2.1.5")])]
        print(f"| {label} | {what} | {a[0]:.2f} | {b[0]:.2f} | {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}) | {a[1]:.2f} | {b[1]:.2f} |")
