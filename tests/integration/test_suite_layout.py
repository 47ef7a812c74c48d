#!/usr/bin/env python3
"""Rules of the test suite's own layout (issue 17), checked so that they stay
true: shared helpers live in the harnesses (tests/integration/harness.py,
pngutil.py, tests/world/world.py), and no test file imports from another test
file, whose cases and private helpers may change with its feature.

Run one case: test_suite_layout.py NAME.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, main_for  # noqa: E402

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORT_OF_TEST = re.compile(r"^\s*(?:from\s+test_\w+\s+import|import\s+test_\w+)", re.M)


def python_files(root):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def test_no_test_imports_a_test():
    """Every Python file under tests/: no `from test_x import` / `import test_x`."""
    files = list(python_files(TESTS))
    check(len(files) > 20, f"only {len(files)} Python files found under {TESTS}")
    found = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            for match in IMPORT_OF_TEST.finditer(f.read()):
                found.append(f"{os.path.relpath(path, TESTS)}: {match.group(0).strip()}")
    print(f"{len(files)} Python files under tests/, {len(found)} imports of a test file")
    check(not found, "test files import from other test files (move the helper into a "
          "harness):\n  " + "\n  ".join(found))


if __name__ == "__main__":
    sys.exit(main_for(globals(), required=()))
