#!/usr/bin/env python3
"""Merges the NDJSON results of edgefetch shards (--json --shard K/N): one
summary for the whole list, and a check that every shard reported.

    merge-summaries.py results/task-*.ndjson [--items merged.ndjson]

Prints the merged summary as one JSON object; exits 1 when a shard is
missing or failed items exist, 2 on unreadable input.
"""
import json
import sys

COUNTS = ("items", "ok", "failed", "skipped", "cancelled", "retries", "stale_temps_removed",
          "bytes")
SUMS = ("network_ms", "cpu_ms")


def main(argv):
    items_out = None
    if "--items" in argv:
        i = argv.index("--items")
        items_out = open(argv[i + 1], "w")
        del argv[i:i + 2]
    merged = {k: 0 for k in COUNTS + SUMS}
    merged.update(type="summary", schema_version=1, shards_seen=[], shard_count=None,
                  wall_ms_max=0.0, peak_rss_bytes_max=0, exit_code=0)
    for path in argv:
        with open(path) as f:
            for line in f:
                obj = json.loads(line)
                if obj["type"] == "item":
                    if items_out:
                        items_out.write(line)
                    continue
                for k in COUNTS + SUMS:
                    merged[k] += obj[k]
                merged["wall_ms_max"] = max(merged["wall_ms_max"], obj["wall_ms"])
                merged["peak_rss_bytes_max"] = max(merged["peak_rss_bytes_max"],
                                                   obj["peak_rss_bytes"])
                merged["exit_code"] = max(merged["exit_code"], obj["exit_code"])
                shard = obj["shard"] or {"index": 0, "count": 1}
                merged["shards_seen"].append(shard["index"])
                merged["shard_count"] = shard["count"]
    merged["shards_seen"].sort()
    complete = merged["shard_count"] is not None and \
        merged["shards_seen"] == list(range(merged["shard_count"]))
    merged["complete"] = complete
    print(json.dumps(merged))
    return 0 if complete and merged["failed"] == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (OSError, ValueError, KeyError) as e:
        print(f"merge-summaries: {e}", file=sys.stderr)
        sys.exit(2)
