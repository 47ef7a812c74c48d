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
  positional_layout  --layout positional: FOLDER/LINE.png from the list line
                     (a row on line 10001 in folder 00001), the JSON output
                     path with its folder, resume skips without a request, a
                     name holding another list's output fails that item
                     alone, a killed write in a folder is swept
  positional_shards  three shards give the single run's tree byte for byte,
                     each URL fetched once; a shard's --dry-run lists only
                     its own rows
  tar_shards         --output-format tar: webdataset tars (KEY.png, KEY.json)
                     with the positional run's PNGs, 10,000 rows a tar, a
                     rerun skips complete tars without a request, a stopped
                     run's temporary is swept and redone, shards' tars
                     named apart and together the single run's entries
  positional_memory  with --shard, a process keeps only its shard's rows:
                     its peak RSS does not grow with the list (200,000 and
                     400,000 lines), the readable layout's does

Run one case: test_lists.py NAME. Same environment as test_cli.py.
"""
import gzip
import json
import os
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FAST_RETRY, FIXTURE, PHOTOS, Fixture, Tripwire, Workspace,  # noqa: E402
                     check, expect_failed, failed_lines, main_for, per_path, read, run,
                     run_timed, tree)
from pngutil import png_source  # noqa: E402


def items_of(out):
    objs = [json.loads(line) for line in out.splitlines()]
    return [o for o in objs if o["type"] == "item"], objs[-1]


def pngs(names):
    return sorted(n[:-4] + ".png" for n in names)


def test_csv_tsv():
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
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
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
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
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
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
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
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
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
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


def test_positional_layout():
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        a, b, c = (server.url(n) for n in PHOTOS[:3])
        lines = [a, "# comment", b] + ["#"] * 9997 + [c, a]  # c on line 10001, a again
        path = ws.list_file(lines)
        args = ["--json", "-q", "--layout", "positional", "-i", path, "-o", ws.out]
        rc, out, err = run(args)
        check(rc == 0, f"exit {rc}: {err}")
        items, summary = items_of(out)
        want = {a: "00000/000000001.png", b: "00000/000000003.png", c: "00001/000010001.png"}
        got = {i["url"]: i["output"] for i in items}
        check(got == {u: os.path.join(ws.out, n) for u, n in want.items()}, f"outputs {got}")
        check(summary["duplicates"] == 1, f"summary {summary}")
        check(tree(ws.out) == sorted(want.values()), f"tree {tree(ws.out)}")
        for url, name in want.items():
            check(png_source(read(os.path.join(ws.out, name))) == url, f"{name}: Source")
        requests = server.stats()["requests"]
        check(requests == 3, f"requests {requests}")

        # A killed write left in a folder; a rerun sweeps it and skips the rest.
        leftover = os.path.join(ws.out, "00000", ".000000003.png.Ab12Cd.tmp")
        with open(leftover, "wb") as f:
            f.write(b"partial")
        rc, out, err = run(args)
        check(rc == 0, f"rerun: exit {rc}: {err}")
        items, summary = items_of(out)
        check(all(i["status"] == "skipped" for i in items) and summary["skipped"] == 3,
              f"rerun {summary}")
        check(summary["stale_temps_removed"] == 1 and not os.path.exists(leftover), f"{summary}")
        check(server.stats()["requests"] == requests, "a rerun fetched again")

        # Another list into the same folder: line 1 is now another URL. Its
        # name holds a's output: that item alone fails, a's file stays.
        before = read(os.path.join(ws.out, want[a]))
        other = ws.list_file([c, "#", b], name="other.txt")
        rc, out, err = run(["--json", "--layout", "positional", "-i", other, "-o", ws.out])
        check(rc == 1, f"other list: exit {rc}: {err}")
        items, summary = items_of(out)
        status = {i["line"]: i["status"] for i in items}
        check(status == {1: "failed", 3: "skipped"}, f"statuses {status}")
        failed = [i for i in items if i["status"] == "failed"][0]
        check("holds another URL's output" in failed["error"]["message"], f"{failed}")
        check(read(os.path.join(ws.out, want[a])) == before, "another URL's output overwritten")
        # --force redoes its own outputs, never another URL's.
        rc, out, err = run(["--json", "-q", "--force", "--layout", "positional", "-i", other,
                            "-o", ws.out])
        items, _ = items_of(out)
        status = {i["line"]: i["status"] for i in items}
        check(rc == 1 and status == {1: "failed", 3: "ok"}, f"--force: {rc} {status}")
        check(read(os.path.join(ws.out, want[a])) == before, "--force overwrote another URL's")


def test_positional_shards():
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = [server.url(n) for n in PHOTOS] + [server.url(n + "?again") for n in PHOTOS]
        path = ws.list_file(urls)
        single = os.path.join(ws.tmp, "single")
        rc, _, err = run(["-q", "--layout", "positional", "-i", path, "-o", single])
        check(rc == 0, f"single: exit {rc}: {err}")
        server.reset()
        shards = 3
        seen = []
        for k in range(shards):
            rc, out, err = run(["--json", "-q", "--layout", "positional", "--shard",
                                f"{k}/{shards}", "-i", path, "-o", ws.out])
            check(rc == 0, f"shard {k}: exit {rc}: {err}")
            items, _ = items_of(out)
            seen += [i["url"] for i in items]
            rc, plan, err = run(["--dry-run", "--layout", "positional", "--shard",
                                 f"{k}/{shards}", "-i", path, "-o", ws.out])
            check(rc == 0 and "other-shard" not in plan and len(plan.splitlines()) == len(items),
                  f"shard {k} --dry-run lists other rows:\n{plan}")
        check(sorted(seen) == sorted(urls), "each URL once over the shards")
        check(server.stats()["requests"] == len(urls), "an item fetched twice")
        check(tree(ws.out) == tree(single), f"trees {tree(ws.out)} != {tree(single)}")
        for name in tree(single):
            check(read(os.path.join(ws.out, name)) == read(os.path.join(single, name)), name)


def tar_entries(path):
    """{name: bytes} of a tar, in its order (a list of pairs)."""
    with tarfile.open(path) as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers()]


def test_tar_shards():
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        a, b, c = (server.url(n) for n in PHOTOS[:3])
        missing = server.url("missing.jpg")
        # Rows refused before any I/O, so that c is row 10,000 (0-based; a's
        # repeat is dropped): the first of tar 00001, on line 10,002.
        refused = [f"ftp://127.0.0.1/{n}" for n in range(9997)]
        lines = [a, missing, a, b] + refused + [c]
        path = ws.list_file(lines)
        single = os.path.join(ws.tmp, "single")
        rc, _, err = run(["-q", "--layout", "positional", "-i", path, "-o", single])
        check(rc == 1, f"positional run: exit {rc}: {err}")
        server.reset()
        args = ["--json", "-q", "--layout", "positional", "--output-format", "tar", "-i", path,
                "-o", ws.out]
        rc, out, err = run(args)
        check(rc == 1, f"tar run: exit {rc}: {err[-2000:]}")
        items, summary = items_of(out)
        check(tree(ws.out) == ["00000.tar", "00001.tar"], f"tree {tree(ws.out)}")
        first = tar_entries(os.path.join(ws.out, "00000.tar"))
        names = [n for n, _ in first]
        check(sorted(names) == ["000000001.json", "000000001.png", "000000004.json",
                                "000000004.png"], f"00000.tar: {names}")
        # webdataset: an item's files next to each other.
        check(all(names[i][:9] == names[i + 1][:9] for i in (0, 2)), f"order {names}")
        files = dict(first)
        check(files["000000001.png"] == read(os.path.join(single, "00000", "000000001.png")),
              "the tar's PNG differs from the positional run's")
        record = json.loads(files["000000004.json"])
        check(record["url"] == b and record["status"] == "ok" and
              record["output"] == os.path.join(ws.out, "00000.tar", "000000004.png"), f"{record}")
        check(png_source(files["000000004.png"]) == b, "Source")
        second = dict(tar_entries(os.path.join(ws.out, "00001.tar")))
        check(sorted(second) == ["000010002.json", "000010002.png"], f"00001.tar: {sorted(second)}")
        by_url = {i["url"]: i for i in items}
        check(by_url[c]["output"] == os.path.join(ws.out, "00001.tar", "000010002.png"),
              f"{by_url[c]}")
        check(by_url[missing]["status"] == "failed" and summary["duplicates"] == 1, f"{summary}")
        requests = server.stats()["requests"]
        check(requests == 4, f"requests {requests}")

        # Rerun: both tars complete, nothing fetched, every row skipped.
        rc, out, err = run(args)
        items, summary = items_of(out)
        check(rc == 0 and items == [] and summary["skipped"] == len(lines) - 1,
              f"rerun: exit {rc}, {summary}")
        check(server.stats()["requests"] == requests, "a rerun fetched")

        # A run stopped in 00001: its temporary is swept, its rows redone.
        os.unlink(os.path.join(ws.out, "00001.tar"))
        leftover = os.path.join(ws.out, ".00001.tar.Ab12Cd.tmp")
        with open(leftover, "wb") as f:
            f.write(b"partial tar")
        rc, out, err = run(args)
        items, summary = items_of(out)
        check(rc == 0 and [i["url"] for i in items] == [c], f"redo: exit {rc}, {items}")
        check(summary["stale_temps_removed"] == 1 and not os.path.exists(leftover), f"{summary}")
        redone = dict(tar_entries(os.path.join(ws.out, "00001.tar")))
        check(sorted(redone) == sorted(second) and
              redone["000010002.png"] == second["000010002.png"], "the redone tar differs")

        # Two shards: tars named apart, together the same entries.
        shards = os.path.join(ws.tmp, "shards")
        for k in range(2):
            rc, _, err = run(["-q", "--layout", "positional", "--output-format", "tar", "--shard",
                              f"{k}/2", "-i", path, "-o", shards])
            check(rc in (0, 1), f"shard {k}: exit {rc}: {err[-500:]}")
        check(all(n.startswith(("00000-", "00001-")) for n in tree(shards)), f"{tree(shards)}")
        together = {}
        for n in tree(shards):
            together.update(tar_entries(os.path.join(shards, n)))
        want = dict(first)
        want.update(second)
        check(sorted(together) == sorted(want), f"shard entries {sorted(together)}")
        check(all(together[n] == want[n] for n in want if n.endswith(".png")), "shard PNGs differ")

        rc, _, err = run(["--output-format", "tar", "-i", path, "-o", ws.out])
        check(rc == 2 and "needs --layout positional" in err, f"readable tar: {rc} {err}")


def peak_rss_kib(args):
    """Runs edgefetch with `args`; its exit code and peak RSS (KiB)."""
    proc = subprocess.Popen([EDGEFETCH] + args, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss


def test_positional_memory():
    with Workspace([]) as ws:
        rss = {}
        for lines in (200000, 400000):
            # Nothing listens on port 9: --dry-run sends nothing anyway.
            # Written in pieces: a child's peak RSS counts this process's,
            # whose memory it starts in (vfork), so this one stays small.
            path = os.path.join(ws.tmp, f"urls-{lines}.txt")
            with open(path, "w") as f:
                for start in range(0, lines, 10000):
                    f.write("".join(f"http://127.0.0.1:9/p/{i:09d}/photo-{i * 7919 % 1000003}.jpg\n"
                                    for i in range(start, start + 10000)))
            for layout in ("positional", "readable"):
                rc, kib = peak_rss_kib(["--dry-run", "--layout", layout, "--shard", "0/100000",
                                        "-i", path, "-o", ws.out])
                check(rc == 0, f"{layout} {lines}: exit {rc}")
                rss[layout, lines] = kib
        grown = rss["positional", 400000] - rss["positional", 200000]
        readable_grown = rss["readable", 400000] - rss["readable", 200000]
        # The readable layout holds ~110 bytes a line: ~21 MiB more for
        # 200,000 lines; the positional one holds nothing of other shards.
        check(readable_grown > 10 * 1024, f"readable grew only {readable_grown} KiB: {rss}")
        check(grown < 2 * 1024, f"positional grew {grown} KiB with the list: {rss}")
        print(f"peak RSS KiB: {rss}")


# ---- hostile lists (issue 4) ---------------------------------------------------------

def test_list_refusals():
    """Malformed URLs and file/ftp/gopher/dict/... are refused before any I/O,
    with the list's line number; CRLF, a BOM, blanks, comments and padding are
    tolerated; the same URL twice is fetched once."""
    with Tripwire() as wire:
        port = wire.port
        with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
            ws.photo("good.jpg")
            good = server.url("good.jpg")
            bad = {
                3: ("file:///etc/passwd", "scheme"),
                4: (f"ftp://127.0.0.1:{port}/a.jpg", "scheme"),
                5: (f"gopher://127.0.0.1:{port}/1", "scheme"),
                6: (f"dict://127.0.0.1:{port}/d", "scheme"),
                8: ("http//no-scheme.jpg", "malformed"),
                9: ("http://", "malformed"),
                10: (f"http://127.0.0.1:{port}/a b.jpg", "malformed"),
                11: (f"ldap://127.0.0.1:{port}/x", "scheme"),
            }
            lines = ["\ufeff# BOM, then a comment", "   " + good + "  \t"]
            for no in range(3, 12):
                lines.append(bad[no][0] if no in bad else "")
            lines += ["# dup:", good, "\t" + good]
            raw = "\r\n".join(lines).encode("utf-8") + b"\r\n"
            lst = ws.list_file([], raw=raw)
            rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            check(len(failed_lines(err)) == len(bad), f"{len(failed_lines(err))} FAILED lines:\n{err}")
            for no, (url, word) in bad.items():
                expect_failed(err, url, no, word)
            check(server.stats()["requests"] == 1, f"server requests {per_path(server)}")
            ws.check_tree(["good.png"])
        check(not wire.touched(), "a refused scheme connected anyway")


def test_list_binary():
    """A list with a NUL byte is refused as a whole (exit 2) before any
    download, naming the line."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("a.jpg")
        raw = (server.url("a.jpg") + "\n" + "http://127.0.0.1/b\x00.jpg\n").encode()
        rc, _, err, _ = run_timed(["-i", ws.list_file([], raw=raw), "-o", ws.out])
        check(rc == 2, f"exit {rc}, want 2: {err}")
        check("line 2" in err and "NUL" in err, f"message: {err}")
        check(server.stats()["requests"] == 0, "downloaded from a list that was refused")


def test_list_control_chars():
    """URLs with raw control characters (ESC sequences, BEL, a lone CR) are
    refused with their line number, and never echoed raw to the terminal."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("ok.jpg")
        hostile = [server.url("x\x1b[31mred\x1b]0;title\x07.jpg"), server.url("a\rb.jpg"),
                   server.url("tab\there.jpg")]
        lst = ws.list_file([server.url("ok.jpg")] + hostile)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err!r}")
        fails = failed_lines(err)
        check(len(fails) == 3, f"{len(fails)} FAILED lines: {err!r}")
        for no in (2, 3, 4):
            check(any(f"line {no}: " in line and "malformed" in line for line in fails),
                  f"no 'line {no}: ... malformed' in {fails!r}")
        for bad in ("\x1b", "\x07", "\r"):
            check(bad not in err, f"a raw {bad!r} from the URL list reached stderr: {fails!r}")
        check(per_path(server) == {"/ok.jpg": 1}, f"requests {per_path(server)}")
        ws.check_tree(["ok.png"])


if __name__ == "__main__":
    sys.exit(main_for(globals()))
