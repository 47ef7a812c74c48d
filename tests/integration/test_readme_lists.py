#!/usr/bin/env python3
"""The README's examples of a list row that fails alone ("`line 7:
malformed row: text after a closing quote`", "`line 9: not valid JSON:
expected ':' at byte 8`", "`line 4: no "url" field`"), read from the README
and made at their line in a list of their format: --dry-run refuses that row
with exactly that text and plans the rest.

    test_readme_lists.py CASE   (meson: readme_lists_CASE)
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Workspace, check, main_for, run  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
GOOD = "http://127.0.0.1:9/a.jpg"  # a --dry-run connects to nothing

# Each message the README quotes, and a row of a list that has it:
# (list file name, header line or None, the good row, the bad row).
ROWS = {
    "malformed row: text after a closing quote": ("urls.csv", "url", GOOD, '"http://127.0.0.1:9/x"y'),
    "not valid JSON: expected ':' at byte 8": ("urls.jsonl", None, '{"url": "%s"}' % GOOD,
                                               '{"url" 5}'),
    'no "url" field': ("urls.jsonl", None, '{"url": "%s"}' % GOOD, '{"link": "x"}'),
}


def test_row_messages():
    with open(os.path.join(SOURCE_ROOT, "README.md"), encoding="utf-8") as f:
        readme = " ".join(f.read().split())
    usage = readme[readme.index("Lists exported from other tools"):readme.index("## Safety")]
    examples = re.findall(r"`line (\d+): ([^`]+)`", usage)
    check(sorted(m for _, m in examples) == sorted(ROWS),
          f"README's row messages {examples}; this test makes {sorted(ROWS)}")
    with Workspace() as ws:
        for line, message in examples:
            name, header, good, bad = ROWS[message]
            lines = ([header] if header else []) + [good]
            # Comments and blank lines are lines: fill up to the bad one.
            filler = "" if name.endswith(".jsonl") else good
            while len(lines) < int(line) - 1:
                lines.append(filler)
            lines.append(bad)
            path = ws.list_file(lines, name=name)
            rc, out, err = run(["--dry-run", "-o", ws.out, "-i", path])
            check(rc == 0, f"{name}: exit {rc}: {err}")
            plan = [row.split("\t") for row in out.splitlines()]
            refused = [p for p in plan if p[0] == "refused"]
            check(len(refused) == 1 and refused[0][3] == f"(line {line}: {message})" and
                  refused[0][4] == message, f"{name}, line {line}: {refused}, README: {message!r}")
            check([p[0] for p in plan].count("fetch") == 1, f"{name}: the good row: {plan}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
