#!/usr/bin/env python3
"""The README's examples of output names, read from the README and given to
--dry-run (which prints each item's output and sends nothing): `…/cat.jpg?s=1`
→ `cat.png`, no segment → `image.png`, the two `cat.jpg` URLs and the hashed
names they become, `--name-column`'s `My Cat.jpg` → `My_Cat.png`, and
`--layout positional`'s line 123456 → `00012/000123456.png` (also the
`--json` example's `"output"`), URL arguments numbered on after the list.

    test_readme_names.py CASE   (meson: readme_names_CASE)
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Workspace, check, main_for, run  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
BASE = "http://127.0.0.1:9"  # a --dry-run connects to nothing


def readme():
    with open(os.path.join(SOURCE_ROOT, "README.md"), encoding="utf-8") as f:
        return " ".join(f.read().split())


def claim(text, pattern):
    m = re.search(pattern, text)
    check(m is not None, f"README: no {pattern!r}")
    return m.groups()


def planned(args, out):
    """{URL: output name under `out`} of a --dry-run."""
    rc, stdout, err = run(["--dry-run", "-o", out] + args)
    check(rc == 0, f"--dry-run {args}: exit {rc}: {err}")
    names = {}
    for line in stdout.splitlines():
        action, output, _, url = line.split("\t")[:4]
        check(action == "fetch" and output.startswith(out + "/"), f"--dry-run: {line!r}")
        names[url] = output[len(out) + 1:]
    return names


def test_examples():
    text = readme()
    with Workspace() as ws:
        out = os.path.join(ws.tmp, "out")

        suffix, want = claim(text, r"\(`…(/[^`]+)` → `([^`]+)`; ")
        no_segment, = claim(text, r"no segment → `([^`]+)`")
        one, two, one_name, two_name = claim(
            text, r"So `(https?://[^`]+)` and `(https?://[^`]+)` become `([^`]+)` and `([^`]+)`")
        # Readable names are resolved over the whole list: each example
        # alone, the pair together.
        got = planned([BASE + "/x" + suffix], out)
        check(got == {BASE + "/x" + suffix: want}, f"{suffix}: {got}, README says {want}")
        got = planned([BASE + "/"], out)
        check(got == {BASE + "/": no_segment}, f"no segment: {got}, README says {no_segment}")
        # Those very URLs: their names are their hashes. --dry-run opens no
        # socket (checked once with strace -e socket,connect), so no name of
        # theirs is ever looked up.
        got = planned([one, two], out)
        check(got == {one: one_name, two: two_name}, f"{got}, README says {one_name}, {two_name}")

        value, want = claim(text, r"\(not percent-decoded; `([^`]+)` gives `([^`]+)`\)")
        lst = os.path.join(ws.tmp, "urls.csv")
        with open(lst, "w", encoding="utf-8") as f:
            f.write(f"url,name\n{BASE}/a/1.jpg,{value}\n")
        got = planned(["-i", lst, "--name-column", "name"], out)
        check(got == {f"{BASE}/a/1.jpg": want}, f"--name-column {value!r}: {got}, README says {want}")

        line, want = claim(text, r"line (\d+) is `([^`]+)`")
        json_output, = claim(text, r'`"output": "out/(\d+/\d+\.png)"`')
        check(json_output == want, f"README: line {line} is {want}, its --json example {json_output}")
        lst = os.path.join(ws.tmp, "urls.txt")
        with open(lst, "w", encoding="utf-8") as f:
            f.write("#\n" * (int(line) - 1) + f"{BASE}/p.jpg\n")
        got = planned(["-i", lst, "--layout", "positional"], out)
        check(got == {f"{BASE}/p.jpg": want}, f"line {line}: {got}, README says {want}")

        # "URL arguments are numbered on after the list's last line": its
        # last line, a comment or a blank one included.
        check("URL arguments are numbered on after the list's last line" in text,
              "README: the URL arguments' lines")
        lst = os.path.join(ws.tmp, "short.txt")
        with open(lst, "w", encoding="utf-8") as f:
            f.write(f"{BASE}/a.jpg\n# a comment\n\n")
        got = planned(["-i", lst, "--layout", "positional", f"{BASE}/b.jpg", f"{BASE}/c.jpg"], out)
        check(got == {f"{BASE}/a.jpg": "00000/000000001.png", f"{BASE}/b.jpg": "00000/000000004.png",
                      f"{BASE}/c.jpg": "00000/000000005.png"}, f"URL arguments after 3 lines: {got}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
