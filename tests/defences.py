#!/usr/bin/env python3
"""Removes a defence and checks that its tests go red (tests/DEFENCES.md).

    python3 tests/defences.py --list
    python3 tests/defences.py NAME [NAME...]     # or: make defences ENTRY=NAME
    python3 tests/defences.py --all

For each entry of the table in tests/DEFENCES.md that names a patch
(tests/defences/NAME.patch, which takes the defence out of the product code):
the committed tree (HEAD) is checked out in a scratch git worktree (kept
between calls, so the next build is incremental; --scratch DIR, default
/tmp/edgefetch-defences), its tests are run once as they are (they must pass:
else the entry says nothing), the patch is applied, the tree is built and
the entry's tests are run again: each must now fail. The patch is then
reversed. Exit 0 when every entry chosen went red as it should, 1 otherwise.

Slow (one build and the tests twice per entry): not part of `make test`.
"""
import argparse
import os
import re
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
TABLE = os.path.join(TESTS, "DEFENCES.md")
PATCHES = os.path.join(TESTS, "defences")


def entries():
    """name -> (promise, defence, tests) from the table rows whose last
    column names a patch: | promise | defence | tests | `name` |."""
    found = {}
    with open(TABLE, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 4:
                continue
            m = re.fullmatch(r"`([a-z0-9_]+)`", cells[-1])
            if not m:
                continue
            tests = re.findall(r"`([a-z0-9_]+)`", cells[-2])
            found[m.group(1)] = (cells[0], cells[1], tests)
    return found


def sh(args, cwd, timeout=1800):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def prepare(scratch):
    """The scratch worktree at HEAD, configured like `make build`."""
    head = sh(["git", "rev-parse", "HEAD"], ROOT).stdout.strip()
    if not os.path.isdir(os.path.join(scratch, ".git")) and not os.path.isfile(os.path.join(scratch, ".git")):
        proc = sh(["git", "worktree", "add", "--detach", scratch, head], ROOT)
        if proc.returncode != 0:
            sys.exit(f"git worktree add {scratch}: {proc.stderr}")
    else:
        # Only the files that differ get a new mtime: the build stays incremental.
        for args in (["git", "reset", "-q", "--hard"], ["git", "checkout", "-q", "--detach", head]):
            proc = sh(args, scratch)
            if proc.returncode != 0:
                sys.exit(f"{' '.join(args)} in {scratch}: {proc.stderr}")
    build = os.path.join(scratch, "build")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        proc = sh(["meson", "setup", build, "--buildtype=release"], scratch)
        if proc.returncode != 0:
            sys.exit(f"meson setup: {proc.stdout}{proc.stderr}")
    return build


def compile_tree(build):
    proc = sh(["meson", "compile", "-C", build], os.path.dirname(build))
    return proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def run_tests(build, tests):
    """name -> True when it passed (meson: OK or SKIP counts as not failed,
    and a SKIP is reported, since a skipped test proves nothing)."""
    results = {}
    for name in tests:
        proc = sh(["meson", "test", "-C", build, "--no-rebuild", name], os.path.dirname(build))
        skipped = re.search(r"\bSKIP\b", proc.stdout) is not None
        results[name] = "skip" if skipped else ("pass" if proc.returncode == 0 else "fail")
    return results


def check_entry(name, entry, build, scratch, baseline):
    promise, defence, tests = entry
    patch = os.path.join(PATCHES, name + ".patch")
    print(f"== {name}: {promise}\n   defence: {defence}\n   tests: {' '.join(tests)}", flush=True)
    if not os.path.exists(patch):
        print(f"   NO PATCH {patch}")
        return False
    ok, log = compile_tree(build)
    if not ok:
        print(f"   the tree does not build before the patch:\n{log}")
        return False
    if baseline:
        before = run_tests(build, tests)
        if any(v != "pass" for v in before.values()):
            print(f"   NOT GREEN before the patch: {before}")
            return False
    proc = sh(["git", "apply", patch], scratch)
    if proc.returncode != 0:
        print(f"   STALE PATCH (does not apply to HEAD): {proc.stderr.strip()}")
        return False
    try:
        ok, log = compile_tree(build)
        if not ok:
            print(f"   the patched tree does not build (fix the patch):\n{log}")
            return False
        after = run_tests(build, tests)
    finally:
        sh(["git", "apply", "-R", patch], scratch)
    red = [t for t, v in after.items() if v == "fail"]
    still = [t for t, v in after.items() if v != "fail"]
    if still:
        print(f"   NOT RED without the defence: {', '.join(f'{t} ({after[t]})' for t in still)}")
        return False
    print(f"   red as it should: {', '.join(red)}", flush=True)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run before the patch")
    parser.add_argument("--scratch", default=os.environ.get("DEFENCES_SCRATCH", "/tmp/edgefetch-defences"))
    args = parser.parse_args()
    table = entries()
    if args.list or not (args.names or args.all):
        for name, (promise, defence, tests) in table.items():
            print(f"{name:28} {' '.join(tests)}")
        return 0
    chosen = list(table) if args.all else args.names
    unknown = [n for n in chosen if n not in table]
    if unknown:
        print(f"unknown entries: {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    build = prepare(args.scratch)
    failed = [n for n in chosen
              if not check_entry(n, table[n], build, args.scratch, not args.no_baseline)]
    # Leave the scratch tree as HEAD built it, for the next call.
    compile_tree(build)
    print(f"{len(chosen) - len(failed)}/{len(chosen)} entries red without their defence"
          + (f"; not: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
