#!/usr/bin/env python3
"""Counts the test suite, so that a reorganisation can show nothing was lost.

    python3 tests/count_checks.py [--build DIR] [--run-unit] [--json]

What it counts (rerun it before and after a merge and compare):
- meson tests: every registered test (`meson introspect --tests`), and per
  suite (a test in two suites counts in both), and the list of names.
- Python assertion sites: in every .py under tests/ except tests/bench (the
  benchmarks assert nothing the suite relies on), each call of `check(`
  (not its `def`), each `assert` statement, each `self.assert*(`, each
  `raise Failure(`. Comments and strings are stripped first (tokenize).
- C assertion sites: in every .c and .h under tests/unit, tests/fuzz and
  tests/opencv, each use of a check.h macro (CHECK, CHECK_EQ, ...), not their
  #defines.
- C checks executed (--run-unit): each unit test binary of the build run once
  with CHECK_COUNT=1, which makes check.h print "checks executed: N" at exit.
  This is the count that must not drop when repeated cases become a table:
  a table has fewer sites, but runs every row's checks.
"""
import argparse
import collections
import io
import json
import os
import re
import subprocess
import sys
import tokenize

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
PY_SITE = re.compile(r"(?<![\w.])check\(|(?<![\w.])assert\b|\bself\.assert\w*\(|\braise\s+Failure\(")
C_SITE = re.compile(r"\bCHECK(?:_(?!COUNTED_)[A-Z_]+)?\s*\(")


def py_code(path):
    """The file's code with comments and string literals blanked out."""
    with open(path, "rb") as f:
        source = f.read()
    parts = []
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type in (tokenize.COMMENT, tokenize.STRING, tokenize.ENCODING):
                continue
            parts.append(tok.string)
            parts.append(" ")
    except tokenize.TokenError:
        return source.decode(errors="replace")
    code = re.sub(r"\s*\(\s*", "(", " ".join(parts))
    return re.sub(r"\s*\.\s*", ".", code)


def c_code(path):
    with open(path, errors="replace") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    # The macros' own definitions are not sites.
    return re.sub(r"#\s*define\s+CHECK\w*\([^)]*\)", " ", text)


def files_under(dirs, endings):
    for d in dirs:
        for dirpath, dirnames, names in os.walk(os.path.join(TESTS, d)):
            dirnames[:] = [n for n in dirnames if n not in ("__pycache__", "corpus", "crashes")]
            for name in sorted(names):
                if name.endswith(endings):
                    yield os.path.join(dirpath, name)


def python_sites():
    per_file = {}
    for path in files_under(["."], (".py",)):
        rel = os.path.relpath(path, TESTS)
        if rel.startswith("bench" + os.sep) or rel in ("count_checks.py", "defences.py"):
            continue
        code = py_code(path)
        code = re.sub(r"\bdef\s+check\(", " ", code)
        per_file[rel] = len(PY_SITE.findall(code))
    return per_file


def c_sites():
    per_file = {}
    for path in files_under(["unit", "fuzz", "opencv"], (".c", ".h")):
        rel = os.path.relpath(path, TESTS)
        per_file[rel] = len(C_SITE.findall(c_code(path)))
    return per_file


def meson_tests(build):
    out = subprocess.run(["meson", "introspect", build, "--tests"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def unit_executed(tests):
    per_test = {}
    for t in tests:
        if not any(s.endswith(":unit") for s in t["suite"]):
            continue
        env = dict(os.environ, CHECK_COUNT="1")
        env.update(t.get("env") or {})
        proc = subprocess.run(t["cmd"], capture_output=True, text=True, env=env,
                              cwd=t.get("workdir") or None, timeout=600)
        # One line per file that includes check.h (each keeps its own count).
        found = re.findall(r"checks executed: (\d+)", proc.stderr)
        per_test[t["name"]] = sum(map(int, found)) if found and proc.returncode == 0 else None
    return per_test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--run-unit", action="store_true", help="run the unit tests to count checks executed")
    parser.add_argument("--json", action="store_true", help="everything, names included, as JSON")
    args = parser.parse_args()

    tests = meson_tests(args.build)
    suites = collections.Counter(s.split(":", 1)[-1] for t in tests for s in t["suite"])
    py = python_sites()
    c = c_sites()
    result = {
        "meson_tests": len(tests),
        "per_suite": dict(sorted(suites.items())),
        "python_sites": sum(py.values()),
        "c_sites": sum(c.values()),
        "python_sites_per_file": py,
        "c_sites_per_file": c,
        "test_names": sorted(t["name"] for t in tests),
    }
    if args.run_unit:
        executed = unit_executed(tests)
        result["c_executed_per_test"] = executed
        result["c_executed"] = sum(v for v in executed.values() if v is not None)
        result["c_executed_missing"] = sorted(k for k, v in executed.items() if v is None)
    if args.json:
        json.dump(result, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    print(f"meson tests: {result['meson_tests']}")
    print("per suite: " + ", ".join(f"{k} {v}" for k, v in result["per_suite"].items()))
    print(f"python assertion sites: {result['python_sites']}")
    print(f"C assertion sites: {result['c_sites']}")
    if args.run_unit:
        print(f"C checks executed by the unit tests: {result['c_executed']}"
              + (f" (no count from: {', '.join(result['c_executed_missing'])})"
                 if result["c_executed_missing"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
