#!/usr/bin/env python3
"""Runs one integration test case with every edgefetch process under
Valgrind's memcheck (suite 'valgrind', tests/integration/meson.build).

    valgrind_case.py TEST_FILE CASE

The case itself is unchanged: EDGEFETCH points at a small generated script
that execs `valgrind ... $real_binary "$@"`, so every way the tests start the
binary (subprocess.run, Popen with signals, a shell) runs the real program
under Valgrind, and signals reach it (exec keeps the PID). Valgrind writes
to a log file per process, not to stderr, so what the tests read is the
program's own output. The case passes only if it passes and no process
reported anything: an invalid read or write, a use of uninitialised memory, a
bad free, or a definite or indirect leak (reachable memory at exit is not an
error: libcurl and OpenSSL keep some on purpose); nor left a file descriptor
of its own open at exit (--track-fds: a socket, a file, or the pipes and
epoll descriptor of a libuv loop or handle that was not closed).

Needs EDGEFETCH (the real binary), FIXTURE and SAMPLES, as the cases do.
Exit 77 (meson: SKIP) when valgrind is not installed.
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

# --error-exitcode makes a report visible to the case too (it checks exit
# codes); the log files are what this runner judges by.
VALGRIND_ARGS = [
    "--tool=memcheck",
    "--error-exitcode=99",
    "--leak-check=full",
    "--show-leak-kinds=definite,indirect",
    "--errors-for-leak-kinds=definite,indirect",
    "--track-origins=yes",
    "--num-callers=30",
    "--child-silent-after-fork=yes",
    "--track-fds=yes",
]


def leaked_fds(log):
    """The 'Open ...' blocks of --track-fds output for descriptors the program
    opened itself (those it inherited say so)."""
    blocks, current = [], None
    for line in log.splitlines():
        body = line.split("== ", 1)[1] if line.startswith("==") and "== " in line else line
        if body.startswith("Open "):
            current = [body]
            blocks.append(current)
        elif current is not None and body.strip():
            current.append(body)
        else:
            current = None
    return ["\n".join(b) for b in blocks if not any("<inherited from parent>" in x for x in b)]


def main():
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} TEST_FILE CASE", file=sys.stderr)
        return 2
    test_file, case = sys.argv[1], sys.argv[2]
    binary = os.environ.get("EDGEFETCH", "")
    if not binary:
        print("EDGEFETCH is not set", file=sys.stderr)
        return 2
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("SKIP: valgrind is not installed (make test-deps)")
        return 77

    with tempfile.TemporaryDirectory(prefix="edgefetch-valgrind-") as tmp:
        logs = os.path.join(tmp, "logs")
        os.makedirs(logs)
        wrapper = os.path.join(tmp, "edgefetch")
        command = [valgrind] + VALGRIND_ARGS + [f"--log-file={logs}/%p.log", binary]
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in command) + ' "$@"\n')
        os.chmod(wrapper, 0o755)

        env = dict(os.environ, EDGEFETCH=wrapper)
        proc = subprocess.run([sys.executable, test_file, case], env=env)

        reports = []
        names = sorted(os.listdir(logs))
        for name in names:
            with open(os.path.join(logs, name), errors="replace") as f:
                text = f.read()
            if "ERROR SUMMARY: 0 errors" not in text or leaked_fds(text):
                reports.append((name, text))
        print(f"valgrind: {len(names)} edgefetch processes, {len(reports)} with errors")
        for name, text in reports:
            print(f"---- {name}\n{text}", file=sys.stderr)
        if proc.returncode != 0:
            return proc.returncode
        return 1 if reports else 0


if __name__ == "__main__":
    sys.exit(main())
