#!/usr/bin/env python3
"""Every file of the tree that README.md, docs/json.md and the man page name
(`tests/bench/results/lists.md`, `imaging/DECODE.md`, `samples/slurm/...`)
exists, so that a rename or a removal leaves no reader pointed at nothing;
and every meson test the README names as "(`world_nxdomain` checks ...)" or
"test: `NAME`" is registered in a meson.build.

    test_readme_paths.py CASE   (meson: readme_paths_CASE)
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import check, main_for  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
TOP = r"(?:cmd|io|pipeline|imaging|tests|samples|docs)/"


def source(*parts):
    with open(os.path.join(SOURCE_ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_paths_exist():
    named = set()
    for doc in (("README.md",), ("docs", "json.md")):
        named |= set(re.findall(r"[`(\[](" + TOP + r"[\w./-]+?)[`)\]]", source(*doc)))
    page = source("docs", "edgefetch.1").replace("\\-", "-")
    named |= set(re.findall(r"\\fB(" + TOP + r"[\w./-]+?)\\fR", page))
    check(len(named) > 40, f"only {len(named)} paths read: {sorted(named)}")
    missing = sorted(p for p in named if not os.path.exists(os.path.join(SOURCE_ROOT, p)))
    check(not missing, f"named but not in the tree: {missing}")

    # Meson test names the README gives: backticked words with an
    # underscore in the Tests section and after "test:"/"tests:"/"checks".
    readme = " ".join(source("README.md").split())
    tests = set(re.findall(r"\(`([a-z0-9]+_[a-z0-9_]+)` checks", readme))
    for listed in re.findall(r"[Tt]ests?: ((?:`[a-z0-9_]+`(?:, | and |\. |\.)?)+)", readme):
        tests |= set(re.findall(r"`([a-z0-9]+_[a-z0-9_]+)`", listed))
    check(len(tests) >= 3, f"test names read from the README: {sorted(tests)}")
    registered = ""
    for path in glob.glob(os.path.join(SOURCE_ROOT, "tests", "**", "meson.build"), recursive=True):
        with open(path, encoding="utf-8") as f:
            registered += f.read()
    unknown = sorted(t for t in tests
                     if f"'{t}'" not in registered and not any(
                         t.startswith(p) and f"'{t[len(p):]}'" in registered
                         for p in re.findall(r"'([a-z0-9]+_)'", registered)))
    check(not unknown, f"the README names tests no meson.build registers: {unknown}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
