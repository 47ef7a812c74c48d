#!/usr/bin/env python3
"""docs/json.md, rule by rule, on real runs (issue 10 item 12).

The page is the contract: this test reads its field tables and its list of
error kinds and stages, so a field or kind added to the output and not to
the page (or the other way round) fails here. Then each rule the page states
for a field is checked on items of every shape: ok, redirected, failed at
each stage (URL, download of several kinds, decode), retried, skipped on a
rerun, given as an argument, sequential mode, and cancelled by SIGTERM.

Run: test_json_doc.py json_doc_rules. Needs EDGEFETCH, FIXTURE, SAMPLES.
"""
import datetime
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, SAMPLES, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, doc_kinds, doc_stages, doc_table_fields, free_port,
                     main_for, ndjson, read, run)
from pngutil import png_size  # noqa: E402


# ---- running -------------------------------------------------------------------


def failed_reasons(err):
    """url -> (line or None, stage, message) of the FAILED lines on stderr."""
    found = {}
    for line in err.splitlines():
        m = re.match(r"edgefetch: (?:line (\d+): )?FAILED (\S+): ([a-z]+): (.*)$", line)
        if m:
            found[m.group(2)] = (int(m.group(1)) if m.group(1) else None, m.group(3), m.group(4))
    return found


def check_item(item, expect, mode, out_dir, kinds, stages, reasons):
    """Every rule of the item table, for one item; `expect` says what this
    item is (status, kind, line, bytes, final_url, ...)."""
    url = item["url"]
    what = f"item {url}"
    check(item["type"] == "item" and item["schema_version"] == 1, f"{what}: type/version")
    check(item["mode"] == mode, f"{what}: mode {item['mode']} != {mode}")
    # line: 1-based line in the list; null for arguments.
    check(item["line"] == expect["line"], f"{what}: line {item['line']} != {expect['line']}")
    check(item["status"] in ("ok", "failed", "skipped", "cancelled"), f"{what}: status")
    check(item["status"] == expect["status"], f"{what}: status {item['status']} != {expect}")
    # http_code: the last response's status, null when none came; final_url
    # goes with it.
    check(item["http_code"] == expect.get("http_code"),
          f"{what}: http_code {item['http_code']} != {expect.get('http_code')}")
    check(item["final_url"] == expect.get("final_url"),
          f"{what}: final_url {item['final_url']} != {expect.get('final_url')}")
    check((item["final_url"] is None) == (item["http_code"] is None),
          f"{what}: final_url and http_code disagree")
    # error: null unless failed/cancelled; kind and stage from the page;
    # message = the FAILED line.
    if item["status"] in ("failed", "cancelled"):
        err = item["error"]
        check(isinstance(err, dict) and set(err) == {"kind", "stage", "message"}, f"{what}: {err}")
        check(err["kind"] in kinds, f"{what}: kind {err['kind']} not in docs/json.md")
        check(err["stage"] in stages, f"{what}: stage {err['stage']} not in docs/json.md")
        check(err["kind"] == expect["kind"], f"{what}: kind {err['kind']} != {expect['kind']}")
        check(err["stage"] == expect["stage"], f"{what}: stage {err['stage']} != {expect['stage']}")
        check(isinstance(err["message"], str) and err["message"], f"{what}: empty message")
        if item["status"] == "failed" and reasons is not None:
            check(reasons.get(url) == (item["line"], err["stage"], err["message"]),
                  f"{what}: FAILED line {reasons.get(url)} != JSON {err}")
    else:
        check(item["error"] is None, f"{what}: error on a {item['status']} item")
    # attempts: 1 + retries; 0 when never fetched.
    check(item["attempts"] == expect["attempts"],
          f"{what}: attempts {item['attempts']} != {expect['attempts']}")
    # bytes: the body when the download succeeded (also when decode then
    # failed); 0 when it failed or never happened.
    check(item["bytes"] == expect["bytes"], f"{what}: bytes {item['bytes']} != {expect['bytes']}")
    # width, height: of the decoded image; null when not decoded.
    if item["status"] == "ok":
        out_png = read(item["output"])
        check((item["width"], item["height"]) == png_size(out_png),
              f"{what}: {item['width']}x{item['height']} != the output's {png_size(out_png)}")
    else:
        check(item["width"] is None and item["height"] is None, f"{what}: width/height")
    # operator_threads: >= 1 when the operator ran, 0 when not.
    check(isinstance(item["operator_threads"], int) and
          (item["operator_threads"] >= 1) == (item["status"] == "ok"),
          f"{what}: operator_threads {item['operator_threads']}")
    # content_type, sha256: of the body downloaded (bytes > 0 here), null
    # when none was; output_bytes: the PNG written, for ok only.
    body = expect.get("body")
    if body is not None:
        check(item["content_type"] == expect["content_type"],
              f"{what}: content_type {item['content_type']!r} != {expect['content_type']!r}")
        check(item["sha256"] == hashlib.sha256(body).hexdigest(),
              f"{what}: sha256 {item['sha256']} is not the body's")
    else:
        check(item["content_type"] is None and item["sha256"] is None,
              f"{what}: content_type/sha256 without a body: {item['content_type']} {item['sha256']}")
    if item["status"] == "ok":
        check(item["output_bytes"] == os.path.getsize(item["output"]),
              f"{what}: output_bytes {item['output_bytes']} != the file's")
    else:
        check(item["output_bytes"] is None, f"{what}: output_bytes on a {item['status']} item")
    # output: DIR/NAME.png for ok and skipped; null otherwise.
    if item["status"] in ("ok", "skipped"):
        check(item["output"] == os.path.join(out_dir, expect["name"]) and
              os.path.isfile(item["output"]), f"{what}: output {item['output']}")
    else:
        check(item["output"] is None, f"{what}: output on a {item['status']} item")
    # times_ms: the five stages, milliseconds, >= 0; download > 0 once fetched.
    times = item["times_ms"]
    check(set(times) == {"queued", "download", "decode", "operator", "encode_write"},
          f"{what}: times {times}")
    check(all(isinstance(v, (int, float)) and v >= 0 for v in times.values()), f"{what}: {times}")
    check((times["download"] > 0) == (item["attempts"] > 0), f"{what}: download time {times}")
    check((times["operator"] > 0) == (item["status"] == "ok"), f"{what}: operator time {times}")


def rfc3339_utc(text):
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), f"not RFC 3339 UTC: {text}")
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def edgefetch_version():
    rc, out, _ = run(["--version"])
    return out.split()[1]


def check_summary(summary, items, mode, out_dir, exit_code, signal_name=None, settings=None,
                  window=None):
    """Every rule of the summary table."""
    check(summary["type"] == "summary" and summary["schema_version"] == 1, "summary type")
    check(summary["edgefetch_version"] == edgefetch_version(), f"version {summary['edgefetch_version']}")
    started, ended = rfc3339_utc(summary["started_at"]), rfc3339_utc(summary["ended_at"])
    check(started <= ended, f"started_at {started} after ended_at {ended}")
    # Both are read around the run, whose own clock gives wall_ms.
    check(abs((ended - started).total_seconds() * 1000 - summary["wall_ms"]) < 100,
          f"ended_at - started_at = {(ended - started).total_seconds() * 1000} ms, "
          f"wall_ms {summary['wall_ms']}")
    if window is not None:
        slack = datetime.timedelta(seconds=1)
        check(window[0] - slack <= started and ended <= window[1] + slack,
              f"run {started}..{ended} outside the test's {window}")
    check(summary["host"] == socket.gethostname(), f"host {summary['host']}")
    s = summary["settings"]
    check(set(s) == {"mode", "max_downloads", "workers", "max_per_host", "operator",
                     "operator_params", "retries", "png_level"}, f"settings {s}")
    check(s["mode"] == mode, f"settings.mode {s['mode']}")
    if settings is not None:
        check({k: s[k] for k in settings} == settings, f"settings {s} != {settings}")
    check(summary["mode"] == mode and summary["output_dir"] == out_dir, f"summary {summary}")
    check(summary["shard"] is None, "shard without --shard")
    statuses = [i["status"] for i in items]
    check(summary["items"] == len(items), f"items {summary['items']} != {len(items)} lines")
    for status in ("ok", "failed", "skipped", "cancelled"):
        check(summary[status] == statuses.count(status),
              f"summary {status} {summary[status]} != {statuses.count(status)}")
    check(summary["items"] == summary["ok"] + summary["failed"] + summary["skipped"] +
          summary["cancelled"], "items != ok + failed + skipped + cancelled")
    check(summary["retries"] == sum(max(i["attempts"] - 1, 0) for i in items),
          f"retries {summary['retries']}")
    check(summary["stale_temps_removed"] == 0, "stale temps")
    check(summary["bytes"] == sum(i["bytes"] for i in items),
          f"summary bytes {summary['bytes']} != the items' {sum(i['bytes'] for i in items)}")
    close = lambda a, b: abs(a - b) <= 0.01 * max(1.0, len(items))  # noqa: E731 (3-decimal rounding)
    sums = {k: sum(i["times_ms"][k] for i in items)
            for k in ("download", "decode", "operator", "encode_write")}
    check(close(summary["network_ms"], sums["download"]), f"network_ms {summary['network_ms']}")
    check(close(summary["cpu_ms"], sums["decode"] + sums["operator"] + sums["encode_write"]),
          f"cpu_ms {summary['cpu_ms']}")
    check(set(summary["stage_ms"]) == set(sums) and
          all(close(summary["stage_ms"][k], v) for k, v in sums.items()),
          f"stage_ms {summary['stage_ms']} != {sums}")
    check(summary["wall_ms"] > 0, "wall_ms")
    check(set(summary["process_cpu_ms"]) == {"user", "system"}, "process_cpu_ms")
    check(summary["peak_rss_bytes"] > 1 << 20, "peak_rss_bytes")
    check(isinstance(summary["peak_items_held"], int) and
          (summary["peak_items_held"] >= 1) == any(i["attempts"] > 0 for i in items),
          f"peak_items_held {summary['peak_items_held']}")
    check(summary["fds_leaked"] == 0, f"fds_leaked {summary['fds_leaked']}")
    check(summary["signal"] == signal_name, f"signal {summary['signal']}")
    check(summary["exit_code"] == exit_code, f"exit_code {summary['exit_code']} != {exit_code}")


def check_run(out, err, rc, expects, mode, out_dir, signal_name=None, fields=None, settings=None,
              window=None):
    objs = ndjson(out)
    item_fields, summary_fields = fields
    kinds, stages = doc_kinds(), doc_stages()
    for obj in objs:
        want = item_fields if obj["type"] == "item" else summary_fields
        check(set(obj) == set(want),
              f"{obj['type']}: fields {sorted(obj)} != docs/json.md {sorted(want)}")
    check(objs[-1]["type"] == "summary" and all(o["type"] == "item" for o in objs[:-1]),
          "one summary, last")
    items = objs[:-1]
    check(sorted(i["url"] for i in items) == sorted(expects),
          f"items {[i['url'] for i in items]} != {sorted(expects)}")
    reasons = failed_reasons(err) if err is not None else None
    for item in items:
        check_item(item, expects[item["url"]], mode, out_dir, kinds, stages, reasons)
    check_summary(objs[-1], items, mode, out_dir, rc, signal_name, settings, window)
    return items, objs[-1]


# ---- the case ------------------------------------------------------------------

def test_json_doc_rules():
    fields = (doc_table_fields("item"), doc_table_fields("summary"))
    check({"final_url", "http_code", "bytes", "times_ms", "operator_threads"} <= set(fields[0]),
          f"item table not read from docs/json.md: {fields[0]}")
    check({"items", "bytes", "exit_code", "stage_ms"} <= set(fields[1]),
          f"summary table not read from docs/json.md: {fields[1]}")
    kinds = doc_kinds()
    check({"connect", "http_status", "malformed_response", "headers_too_large", "cancelled"} <=
          kinds, f"kinds not read from docs/json.md: {kinds}")
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        photo, other = PHOTOS[0], PHOTOS[1]
        photo_body = read(os.path.join(SAMPLES, photo))
        other_body = read(os.path.join(SAMPLES, other))
        photo_size, other_size = len(photo_body), len(other_body)
        notes = b"<!DOCTYPE html><html>not an image</html>\n"
        ws.write("notes.jpg", notes)
        dead = f"http://127.0.0.1:{free_port()}/dead.jpg"
        q = lambda u: urllib.parse.quote(u, safe="")  # noqa: E731
        urls = {
            "ok": server.url(photo),
            "missing": server.url("missing.jpg"),
            "hop": server.url("hop.jpg?redirect=/" + other),
            "notes": server.url("notes.jpg"),
            "dead": dead,
            "ftp": "ftp://127.0.0.1/x.jpg",
            "bad": "http://",
            "hop_dead": server.url("hd.jpg?redirect=" + q(dead)),
            "off": server.url("off.jpg?redirect=" + q("file:///etc/passwd")),
            "h09": server.url("h09.jpg?http09=1&file=" + photo),
            "huge": server.url("huge.jpg?huge_header=150000&file=" + photo),
            # Slow to answer: the run lasts long enough for its times to tell.
            "slow": server.url("slow.jpg?delay=400&file=" + photo),
        }
        # The first line with blanks around it (trimmed), the first URL again
        # at the end (a duplicate, fetched once).
        lines = ["  " + urls["ok"] + " "] + list(urls.values())[1:] + [urls["ok"]]
        lst = ws.list_file(lines)
        line_of = {u: n + 2 for n, u in enumerate(list(urls.values())[1:])}
        line_of[urls["ok"]] = 1
        base = ["--json", "-i", lst, "-o", ws.out, "--retries", "1", "--retry-delay", "0.02",
                "-j", "3", "-w", "2", "--max-per-host", "2"]
        settings = {"max_downloads": 3, "workers": 2, "max_per_host": 2, "operator": "sobel",
                    "operator_params": {}, "retries": 1, "png_level": 1}
        now = lambda: datetime.datetime.now(datetime.timezone.utc)  # noqa: E731
        before = now()
        rc, out, err = run(base)
        window = (before, now())
        check(rc == 1, f"exit {rc}: {err}")

        def failed(key, kind, stage, attempts=1, code=None, final=None):
            return {"status": "failed", "kind": kind, "stage": stage, "attempts": attempts,
                    "bytes": 0, "http_code": code, "final_url": final, "line": line_of[urls[key]]}

        expects = {
            urls["ok"]: {"status": "ok", "attempts": 1, "bytes": photo_size, "http_code": 200,
                         "final_url": urls["ok"], "line": 1, "name": photo[:-4] + ".png",
                         "body": photo_body, "content_type": "image/jpeg"},
            urls["hop"]: {"status": "ok", "attempts": 1, "bytes": other_size, "http_code": 200,
                          "final_url": server.url(other), "line": line_of[urls["hop"]],
                          "name": "hop.png", "body": other_body, "content_type": "image/jpeg"},
            urls["missing"]: failed("missing", "http_status", "download", 1, 404, urls["missing"]),
            # Decoding failed: the body was downloaded, and `bytes` says how much.
            urls["notes"]: dict(failed("notes", "not_an_image", "decode", 1, 200, urls["notes"]),
                                bytes=len(notes), body=notes, content_type="image/jpeg"),
            # A refused connection is retried: 1 + --retries 1 attempts, no response.
            urls["dead"]: failed("dead", "connect", "download", 2),
            urls["ftp"]: failed("ftp", "unsupported_scheme", "url", 0),
            urls["bad"]: failed("bad", "bad_url", "url", 0),
            # The redirect answered, its target did not: the 302 is the last response.
            urls["hop_dead"]: failed("hop_dead", "connect", "download", 2, 302, urls["hop_dead"]),
            urls["off"]: failed("off", "redirect_refused", "download", 1, 302, urls["off"]),
            urls["h09"]: failed("h09", "malformed_response", "download", 1),
            urls["huge"]: failed("huge", "headers_too_large", "download", 1, 200, urls["huge"]),
            urls["slow"]: {"status": "ok", "attempts": 1, "bytes": photo_size, "http_code": 200,
                           "final_url": urls["slow"], "line": line_of[urls["slow"]],
                           "name": "slow.png", "body": photo_body, "content_type": "image/jpeg"},
        }
        items, summary = check_run(out, err, rc, expects, "concurrent", ws.out, fields=fields,
                                   settings=settings, window=window)
        check(summary["duplicates"] == 1, f"duplicates {summary['duplicates']}")

        # The same list again: the outputs are there, so those items are
        # skipped: never fetched, no response, no bytes, the output named.
        server.reset()
        rc, out, err = run(base)
        for url in (urls["ok"], urls["hop"], urls["slow"]):
            expects[url] = {"status": "skipped", "attempts": 0, "bytes": 0, "http_code": None,
                            "body": None,
                            "final_url": None, "line": expects[url]["line"],
                            "name": expects[url]["name"]}
        check_run(out, err, rc, expects, "concurrent", ws.out, fields=fields)
        check(server.stats()["per_path"].get("/" + photo) is None, "a skipped item was fetched")

        # A URL argument (line null), sequential mode.
        rc, out, err = run(["--json", "--sequential", "-o", ws.out, "--force", "--operator",
                            "canny", "--sigma", "2", "--low", "30", urls["ok"]])
        check(rc == 0, f"sequential: exit {rc}: {err}")
        check_run(out, err, rc, {urls["ok"]: {
            "status": "ok", "attempts": 1, "bytes": photo_size, "http_code": 200,
            "final_url": urls["ok"], "line": None, "name": photo[:-4] + ".png",
            "body": photo_body, "content_type": "image/jpeg"}},
            "sequential", ws.out, fields=fields,
            settings={"operator": "canny", "operator_params": {"sigma": 2, "low": 30, "high": 80},
                      "retries": 2})

        # SIGTERM while a body stalls: cancelled, kind cancelled, stage where
        # it was (download), the summary names the signal, exit 143. The
        # headers came, so the response is there (http_code 200, final_url).
        stall = server.url(other + "?stall=1000")
        proc = subprocess.Popen([EDGEFETCH, "--json", "-q", "-o", ws.out, "--force", stall],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while server.stats()["hanging"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        check_clean_exit(err, "edgefetch")
        check(proc.returncode == 143, f"SIGTERM: exit {proc.returncode}: {err}")
        check_run(out.decode(), None, proc.returncode, {stall: {
            "status": "cancelled", "kind": "cancelled", "stage": "download", "attempts": 1,
            "bytes": 0, "http_code": 200, "final_url": stall, "line": None}},
            "concurrent", ws.out, signal_name="SIGTERM", fields=fields)


if __name__ == "__main__":
    sys.exit(main_for(globals()))
