#!/usr/bin/env python3
"""The exit statuses, as the three texts that list them say (--help's "Exit
status:", the man page's EXIT STATUS, the README's *Exit status*): the
three list the same codes, and a real run gives each one for what the texts
say it means; the --json summary's exit_code is the process's.

    test_readme_exit.py CASE   (meson: readme_exit_CASE)
"""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Fixture, Workspace, check, check_clean_exit,  # noqa: E402
                     failed_lines, finish, items_of, main_for, ndjson, run, start)

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))


def source(*parts):
    with open(os.path.join(SOURCE_ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def codes_in_help():
    rc, out, _ = run(["--help"])
    check(rc == 0, "--help")
    paragraph = out[out.index("Exit status:"):].split("\n\n")[0]
    return {int(n) for n in re.findall(r"\b\d+\b", paragraph)}


def codes_in_man():
    page = source("docs", "edgefetch.1")
    section = page[page.index(".SH EXIT STATUS"):page.index(".SH ENVIRONMENT")]
    lines = section.splitlines()
    headings = [lines[i + 1] for i, line in enumerate(lines) if line == ".TP"]
    return {int(n) for h in headings for n in re.findall(r"\b\d+\b", h)}


def codes_in_readme():
    readme = source("README.md")
    paragraph = readme[readme.index("**Exit status.**"):].split("\n\n")[0]
    found = re.findall(r"(?<![\w.`-])(\d+)(?:/(\d+))?:\s", paragraph)
    return {int(n) for pair in found for n in pair if n}, paragraph


def summary_code(out):
    objs = [o for o in ndjson(out) if o["type"] == "summary"]
    check(len(objs) == 1, f"want one summary: {out[-400:]!r}")
    return objs[0]["exit_code"]


def wait_for_requests(server, count, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while server.stats()["requests"] < count:
        check(time.monotonic() < deadline, f"the server saw {server.stats()['requests']} requests")
        time.sleep(0.02)


def test_statuses():
    """0: every item ok, and a rerun where every item is skipped; 1: some
    failed, the others written, one FAILED line each; 2: a usage error and
    nothing could run (unreadable list, an output folder that is a file),
    before any request; 130/143: SIGINT/SIGTERM mid-download; 141: the
    --json reader gone. The summary says the same code."""
    readme_codes, readme_text = codes_in_readme()
    help_codes, man_codes = codes_in_help(), codes_in_man()
    check(help_codes == man_codes == readme_codes,
          f"exit codes: --help {sorted(help_codes)}, man {sorted(man_codes)}, README {sorted(readme_codes)}")
    check(help_codes == {0, 1, 2, 130, 143, 141}, f"--help's codes changed: {sorted(help_codes)}: "
          "give each new one a run here")
    # The texts say skipped items do not make a failure.
    rc, help_out, _ = run(["--help"])
    check("0 all items ok or skipped" in help_out, "--help: 0")
    check(re.search(r"0: every item ok or skipped\b", readme_text), f"README's 0: {readme_text[:80]!r}")

    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        ok_urls = [server.url(n) for n in PHOTOS[:2]]
        lst = ws.list_file(ok_urls)
        rc, out, err = run(["--json", "-q", "-i", lst, "-o", ws.out])
        check(rc == 0 and summary_code(out) == 0, f"all ok: exit {rc}: {err}")
        rc, out, err = run(["--json", "-q", "-i", lst, "-o", ws.out])
        items, summary = items_of(out)
        check(rc == 0 and summary_code(out) == 0 and summary["skipped"] == 2,
              f"all skipped: exit {rc}, {summary['skipped']} skipped: {err}")

        missing = server.url("missing.jpg?status=404")
        lst = ws.list_file(ok_urls + [missing], name="some-fail.txt")
        rc, out, err = run(["--json", "-q", "--force", "-i", lst, "-o", ws.out])
        items, _ = items_of(out)
        check(rc == 1 and summary_code(out) == 1, f"some failed: exit {rc}: {err}")
        check(all(items[u]["status"] == "ok" and os.path.exists(items[u]["output"]) for u in ok_urls),
              f"the others not written: {items}")
        lines = failed_lines(err)
        check(len(lines) == 1 and "line 3: " in lines[0] and missing in lines[0] and "404" in lines[0],
              f"one FAILED line naming line, URL and reason: {err!r}")

        requests = server.stats()["requests"]
        not_a_dir = os.path.join(ws.tmp, "a-file")
        with open(not_a_dir, "w") as f:
            f.write("x")
        for args, words in ((["--no-such-option", ok_urls[0]], "unknown option"),
                            (["-i", os.path.join(ws.tmp, "no-such-list.txt")], "no-such-list.txt"),
                            (["-o", not_a_dir, ok_urls[0]], "a-file")):
            rc, out, err = run(["--json"] + args)
            check(rc == 2 and words in err and out == "", f"{args}: exit {rc}: {err}")
        check(server.stats()["requests"] == requests, "exit 2 after a request")

        for sig in (signal.SIGINT, signal.SIGTERM):
            server.reset()
            proc = start(["--json", "-q", "-o", ws.out, server.url(f"stalled-{sig}.jpg?file={PHOTOS[0]}&stall=100")])
            wait_for_requests(server, 1)
            time.sleep(0.1)
            proc.send_signal(sig)
            rc, out, err = finish(proc, timeout=60)
            check(rc == 128 + sig and summary_code(out) == 128 + sig,
                  f"{sig.name}: exit {rc}, summary {out[-200:]!r}: {err}")

        read_end, write_end = os.pipe()
        os.close(read_end)
        proc = subprocess.Popen([EDGEFETCH, "--json", "-q", "--force", "-o", ws.out] + ok_urls,
                                stdout=write_end, stderr=subprocess.PIPE)
        os.close(write_end)
        _, err = proc.communicate(timeout=60)
        err = err.decode(errors="replace")
        check_clean_exit(err, "--json into a closed pipe")
        check(proc.returncode == 141 and "--json output" in err,
              f"--json reader gone: exit {proc.returncode}: {err}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
