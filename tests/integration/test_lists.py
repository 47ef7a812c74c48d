#!/usr/bin/env python3
"""Structured and compressed URL lists on real runs (issue 13):

  csv_tsv            CSV with quoting (a comma and a line break inside quotes),
                     --url-column, TSV: every URL fetched once, with its line
  jsonl              JSON Lines with escapes, nested fields and --url-field
  gzip_lists         a .csv.gz by its name, a plain list on stdin by gzip's
                     magic bytes; a corrupt gzip ends the run with exit 2
  malformed_rows     rows that cannot be read fail alone, named by line, in
                     stderr and --json; the other rows are fetched
  missing_column     no URL column in the header: exit 2, the columns listed,
                     no request; --url-field on a CSV list: exit 2

Run one case: test_lists.py NAME. Same environment as test_cli.py.
"""
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_cli import (FIXTURE, PHOTOS, FixtureServer, Workspace, check,  # noqa: E402
                      main_for, run, tree)


def items_of(out):
    objs = [json.loads(line) for line in out.splitlines()]
    return [o for o in objs if o["type"] == "item"], objs[-1]


def pngs(names):
    return sorted(n[:-4] + ".png" for n in names)


def test_csv_tsv():
    with Workspace(PHOTOS[:3]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        a, b, c = (server.url(n) for n in PHOTOS[:3])
        text = ("id,caption,URL\r\n"
                f'1,"a cat, sleeping",{a}\r\n'
                f'2,"two\r\nlines",{b}\r\n'
                f"3,,\"{c}\"\r\n"
                f"4,repeat,{a}\r\n")
        path = ws.list_file(None, name="urls.csv", raw=text.encode())
        rc, out, err = run(["--json", "-q", "--url-column", "URL", "-i", path, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        items, summary = items_of(out)
        check(sorted(i["url"] for i in items) == sorted([a, b, c]), f"items {items}")
        lines = {i["url"]: i["line"] for i in items}
        check(lines == {a: 2, b: 3, c: 5}, f"lines {lines}")
        check(summary["ok"] == 3 and summary["duplicates"] == 1, f"summary {summary}")
        check(tree(ws.out) == pngs(PHOTOS[:3]), f"tree {tree(ws.out)}")
        check(server.stats()["requests"] == 3, f"requests {server.stats()['requests']}")

        tsv = ws.list_file(None, name="urls.tsv", raw=f"url\tcaption\n{a}\ta\tb\n".encode())
        rc, out, err = run(["--json", "-q", "--force", "-i", tsv, "-o", ws.out])
        check(rc == 0, f"tsv: exit {rc}: {err}")
        items, _ = items_of(out)
        check([(i["url"], i["line"]) for i in items] == [(a, 2)], f"tsv items {items}")


def test_jsonl():
    with Workspace(PHOTOS[:2]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        a, b = (server.url(n) for n in PHOTOS[:2])
        escaped = b.replace("/", "\\/")
        rows = [json.dumps({"key": "0001", "meta": {"w": [1, 2.5], "ok": True}, "link": a}),
                "",
                '{"link": "%s", "caption": "caf\\u00e9 \\ud83d\\ude00", "n": null}' % escaped]
        path = ws.list_file(rows, name="urls.ndjson")
        rc, out, err = run(["--json", "-q", "--url-field", "link", "-i", path, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        items, summary = items_of(out)
        check([(i["url"], i["line"]) for i in sorted(items, key=lambda i: i["line"])]
              == [(a, 1), (b, 3)], f"items {items}")
        check(tree(ws.out) == pngs(PHOTOS[:2]), f"tree {tree(ws.out)}")


def test_gzip_lists():
    with Workspace(PHOTOS[:2]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        a, b = (server.url(n) for n in PHOTOS[:2])
        path = ws.list_file(None, name="urls.csv.gz",
                            raw=gzip.compress(f"url\n{a}\n".encode()) +
                            gzip.compress(f"{b}\n".encode()))
        rc, out, err = run(["--json", "-q", "-i", path, "-o", ws.out])
        check(rc == 0, f".csv.gz: exit {rc}: {err}")
        items, _ = items_of(out)
        check(sorted((i["url"], i["line"]) for i in items) == [(a, 2), (b, 3)], f"items {items}")

        # Standard input has no name: gzip is known by its magic bytes.
        rc, out, err = run(["--json", "-q", "--force", "-i", "-", "-o", ws.out],
                           stdin=gzip.compress(f"# list\n{a}\n{b}\n".encode()))
        check(rc == 0, f"stdin gzip: exit {rc}: {err}")
        items, _ = items_of(out)
        check(sorted((i["url"], i["line"]) for i in items) == [(a, 2), (b, 3)], f"items {items}")

        # Corrupt after the first block: the list ends with the reason, nothing runs.
        data = bytearray(gzip.compress(("".join(f"{a}?n={n}\n" for n in range(5000))).encode()))
        data[len(data) // 2:] = b"\x00" * (len(data) - len(data) // 2)
        bad = ws.list_file(None, name="bad.txt.gz", raw=bytes(data))
        before = server.stats()["requests"]
        rc, out, err = run(["-q", "-i", bad, "-o", ws.out])
        check(rc == 2, f"corrupt gzip: exit {rc}: {err}")
        check("the gzip list is corrupt" in err or "cut short" in err, f"no reason: {err}")
        check(server.stats()["requests"] == before, "a corrupt list started downloads")

        # Named .gz, not gzip.
        fake = ws.list_file([a], name="plain.txt.gz")
        rc, _, err = run(["-q", "-i", fake, "-o", ws.out])
        check(rc == 2 and "named .gz but is not gzip data" in err, f"fake .gz: exit {rc}: {err}")


def test_malformed_rows():
    with Workspace(PHOTOS[:2]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        a, b = (server.url(n) for n in PHOTOS[:2])
        text = f'url,n\n{a},1\n"{b}"x,2\n"{b}",3\n,4\n'
        path = ws.list_file(None, name="urls.csv", raw=text.encode())
        rc, out, err = run(["--json", "-i", path, "-o", ws.out])
        check(rc == 1, f"exit {rc}: {err}")
        items, summary = items_of(out)
        failed = {i["line"]: i for i in items if i["status"] == "failed"}
        check(sorted(failed) == [3, 5], f"failed lines {sorted(failed)}: {items}")
        check(failed[3]["error"]["message"] == "malformed row: text after a closing quote",
              f"{failed[3]}")
        check(failed[5]["error"]["message"] == "the url field is empty", f"{failed[5]}")
        check(all(i["error"]["stage"] == "url" for i in failed.values()), f"stages {failed}")
        ok = sorted(i["url"] for i in items if i["status"] == "ok")
        check(ok == sorted([a, b]), f"ok items {ok}")
        for line in (3, 5):
            check(any("FAILED" in l and f"line {line}:" in l for l in err.splitlines()),
                  f"no FAILED line naming line {line}:\n{err}")
        check(summary["failed"] == 2 and summary["ok"] == 2, f"summary {summary}")

        rows = ['{"url": "%s"}' % a, '{"url": 5}', '{"url": "%s"' % b, '{"url": "%s"}' % b]
        path = ws.list_file(rows, name="urls.jsonl")
        rc, out, err = run(["--json", "--force", "-i", path, "-o", ws.out])
        check(rc == 1, f"jsonl: exit {rc}: {err}")
        items, _ = items_of(out)
        failed = {i["line"]: i["error"]["message"] for i in items if i["status"] == "failed"}
        check(failed == {2: 'the "url" field is not a string',
                         3: "not valid JSON: expected ',' or '}' at byte %d" % (len(rows[2]) + 1)},
              f"jsonl failures {failed}")


def test_missing_column():
    with Workspace(PHOTOS[:1]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        a = server.url(PHOTOS[0])
        path = ws.list_file(None, name="urls.csv", raw=f"id,link\n1,{a}\n".encode())
        rc, _, err = run(["-i", path, "-o", ws.out])
        check(rc == 2, f"exit {rc}: {err}")
        check('line 1: no column "url" in the header (its columns: "id", "link")' in err, err)
        rc, _, err = run(["--url-field", "link", "-i", path, "-o", ws.out])
        check(rc == 2 and "--url-field is for jsonl lists, this one is read as csv" in err, err)
        rc, _, err = run(["--input-format", "xml", "-i", path, "-o", ws.out])
        check(rc == 2 and "unknown list format 'xml'" in err, err)
        check(server.stats()["requests"] == 0, "a refused list was fetched")
        # The same file read as named by --input-format: the column is there.
        rc, _, err = run(["-q", "--url-column", "link", "-i", path, "-o", ws.out])
        check(rc == 0, f"--url-column link: exit {rc}: {err}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
