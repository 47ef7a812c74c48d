"""The one harness of the integration tests (and of tests/world, tests/slurm).

Every test file imports what it needs from here; none defines its own copy
and none imports helpers from another test file. Images built at test time
and the reference operators are in pngutil.py beside it.

    import harness                     # tests/integration is on sys.path
    from harness import Fixture, Workspace, check, main_for, run

    def test_something():
        with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www) as server:
            rc, out, err = run(["-i", ws.list_file([server.url(PHOTOS[0])]), "-o", ws.out])
            check(rc == 0, f"exit {rc}: {err}")
            ws.check_tree(["a.png"])

    if __name__ == "__main__":
        sys.exit(main_for(globals()))  # runs test_NAME for argv[1]; 77 = SKIP

API:
- EDGEFETCH, FIXTURE, SAMPLES (env), PHOTOS (the sample .jpg names), DATA
  (tests/integration/data), FAST_RETRY (short retry delays).
- Failure, Skip, check(cond, message), main_for(globals()).
- Running the binary; each checks the event loop closed cleanly ("event
  loop not closed cleanly" on stderr fails the case), whatever the exit:
  run(args, stdin=None, timeout=120, env=None) -> (rc, out, err);
  run_timed(...) -> (rc, out, err, seconds);
  run_measured(args, timeout) -> (rc, out, err, seconds, peak RSS MiB from
  wait4, valid when it is the case's first child);
  run_rss(args, timeout) -> (rc, out, err, peak KiB, source), GNU time's
  figure for a child it forks itself; start(args, **popen) -> Popen and
  finish(proc, timeout) -> (rc, out, err) for runs a case signals or feeds;
  check_clean_exit(err, what) for a run started any other way.
- Output: ndjson(out); items_of(out) -> (items by URL, summary);
  items_by_url(out) (kinds checked against docs/json.md); validate_item,
  validate_summary, validate_run (the page's schema; validate_run returns
  (items, summary)); failed_lines(err), failed_line(err, url),
  expect_failed(err, url, line_no, *words); quoted(url); fnv1a32(bytes, h)
  and fnv1a64(bytes) (io/names.c's hashes); doc_text, doc_table_fields,
  doc_list, doc_kinds, doc_stages (what docs/json.md says).
- Files: read(path), tree(path) (every file, hidden ones and symlinks too),
  Workspace(photos=()) (.www served, .out, list_file, photo, write,
  check_tree: the whole workspace tree is exactly what is expected).
- Servers: Fixture(binary, root, ...) (tests/fixture; its exit status is
  checked at the end of the with-block), per_path(server), times(server,
  path); free_port(); Tripwire (a listening port that must not be connected
  to: .port, touched()); nginx_binary(), Nginx (HTTPS + HTTP/2 nginx on
  127.0.0.1 with a certificate made now), nginx_conf(tmp, body, ...) and
  stop_process(proc, sig) for the world's own nginx set-ups; quiescent(pid)
  (returns once the process is blocked, every thread asleep),
  signals_pending(pid) (a signal sent is not yet delivered);
  signal_and_finish(proc, sig, timeout, still) -> (out, err, seconds) (a
  signal must end the run), reaped(proc) (a with-block that kills what is
  left of it) and check_stopped(rc, err, sig, what, said,
  report, out) (exit 128 + N, the stop said, the report, nothing left).
- Sockets: read_head(sock) (a request's bytes up to its blank line, or
  what came before the peer closed).
- Pipes held full: full_pipe() -> (read fd, write fd) whose buffer is full
  (a child's write to it blocks), fill(write fd), Drain(fd) (.start(),
  .text(): reads it to its end on a thread).
- Other tools: tool(*args, cwd) (runs one, checked), source_png(ws, name,
  size) (a sample photo scaled, as PNG, by ImageMagick), fetch(ws, server,
  names, extra) -> (rc, stderr, items by file name) (a --json run over served
  files).
- Machine: in_netns(script, case) (the case again in a network namespace
  with only loopback), env_for_rss() (ASan's quarantine off), screen(raw)
  (a terminal's last screen).
"""
import contextlib
import fcntl
import http.server
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "fixture"))
sys.path.insert(0, os.path.join(TESTS, "world"))
from fixture_server import FixtureServer  # noqa: E402
from pngutil import is_complete_png  # noqa: E402

EDGEFETCH = os.environ.get("EDGEFETCH", "")
FIXTURE = os.environ.get("FIXTURE", "")
SAMPLES = os.environ.get("SAMPLES", "")
PHOTOS = sorted(n for n in os.listdir(SAMPLES) if n.endswith(".jpg")) if SAMPLES else []
DATA = os.path.join(HERE, "data")
DOC = os.path.join(os.path.dirname(TESTS), "docs", "json.md")

# Retries stay on (they are part of what is tested) but short, so a failing
# transient item costs tens of milliseconds, not seconds.
FAST_RETRY = ["--retry-delay", "0.02"]


# ---- outcomes of a case --------------------------------------------------------------

class Failure(Exception):
    pass


class Skip(Exception):
    """A case that cannot run on this machine: exit 77, meson's SKIP."""


def check(cond, message):
    if not cond:
        raise Failure(message)


def main_for(namespace, required=("EDGEFETCH", "FIXTURE", "SAMPLES")):
    """Runs the case named on the command line among the test_* functions
    of `namespace` (a module's globals()): exit 0 ok, 1 failed, 2 usage,
    77 skipped with its reason."""
    cases = {name[5:]: fn for name, fn in namespace.items() if name.startswith("test_")}
    if len(sys.argv) != 2 or sys.argv[1] not in cases:
        print(f"usage: {sys.argv[0]} CASE\ncases: {' '.join(cases)}", file=sys.stderr)
        return 2
    for var in required:
        if not os.environ.get(var):
            print(f"{var} is not set", file=sys.stderr)
            return 2
    try:
        cases[sys.argv[1]]()
    except Skip as e:
        print(f"SKIP {sys.argv[1]}: {e}")
        return 77
    except Failure as e:
        print(f"FAIL {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    print(f"ok {sys.argv[1]}")
    return 0


# ---- running the binary --------------------------------------------------------------

def check_clean_exit(err, what):
    """Whatever else a case checks: every run closes its event loop cleanly
    (pl_run reports a handle left open as an internal error, exit 2). `err`:
    the run's stderr, bytes or text (None when it was not captured)."""
    if err is None:
        return
    if isinstance(err, bytes):
        err = err.decode(errors="replace")
    check("event loop not closed cleanly" not in err, f"{what}: {err}")


def run_timed(args, stdin=None, timeout=120, env=None):
    """Runs edgefetch; returns (exit code, stdout, stderr, seconds)."""
    start_time = time.monotonic()
    proc = subprocess.run([EDGEFETCH] + args, input=stdin, capture_output=True, timeout=timeout,
                          env=env)
    err = proc.stderr.decode(errors="replace")
    check_clean_exit(err, " ".join(args))
    return proc.returncode, proc.stdout.decode(errors="replace"), err, time.monotonic() - start_time


def run(args, stdin=None, timeout=120, env=None):
    """Runs edgefetch; returns (exit code, stdout, stderr)."""
    return run_timed(args, stdin, timeout, env)[:3]


def run_measured(args, timeout=120):
    """Like run_timed(), plus the child's peak RSS in MiB (its own, from wait4)."""
    start_time = time.monotonic()
    proc = subprocess.Popen([EDGEFETCH] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    # communicate() reaped it; Popen keeps no rusage, so ask the kernel for
    # the largest of our waited children (this function runs first in its case).
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    err = err.decode(errors="replace")
    check_clean_exit(err, " ".join(args))
    return (proc.returncode, out.decode(errors="replace"), err, time.monotonic() - start_time,
            peak_kib / 1024)


# GNU time reports the peak RSS of a child it forked itself (as
# tests/bench/contenders.py measures). os.wait4's ru_maxrss would not do for a
# case that ran other children first: Linux carries the high-water mark of the
# image a process exec'd from, and Python's subprocess spawns through vfork, so
# that is this test's own peak (40 MB and more), not edgefetch's.
GNU_TIME = "/usr/bin/time"


def run_rss(args, timeout):
    """Runs edgefetch; returns (exit code, stdout, stderr, peak RSS in KiB
    and where that number comes from)."""
    use_time = os.access(GNU_TIME, os.X_OK)
    with tempfile.NamedTemporaryFile(prefix="edgefetch-rss-") as rss_file:
        cmd = ([GNU_TIME, "-f", "%M", "-o", rss_file.name] if use_time else []) + [EDGEFETCH] + args
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env_for_rss())
        measured = rss_file.read().decode().strip()
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    check_clean_exit(err, " ".join(args))
    rss_kib, source = None, None
    if use_time:
        check(measured.isdigit(), f"no peak RSS from {GNU_TIME}: {measured!r}")
        rss_kib, source = int(measured), GNU_TIME
    else:
        # edgefetch's own VmHWM (see docs/json.md), the same number without
        # the spawn's.
        summaries = [json.loads(line) for line in out.splitlines() if '"summary"' in line]
        if summaries:
            rss_kib, source = summaries[-1]["peak_rss_bytes"] // 1024, "peak_rss_bytes"
    return proc.returncode, out, err, rss_kib, source


def start(args, **popen):
    """Starts edgefetch (stdout and stderr piped unless said otherwise), for
    a case that signals it or feeds it; end it with finish()."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.Popen([EDGEFETCH] + args, **popen)
    proc.edgefetch_args = args
    return proc


def finish(proc, timeout=120):
    """Waits for a start()ed run; returns (exit code, stdout, stderr) after
    the clean-exit check."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    out = (out or b"").decode(errors="replace")
    err = (err or b"").decode(errors="replace")
    check_clean_exit(err, " ".join(getattr(proc, "edgefetch_args", [])))
    return proc.returncode, out, err


def env_for_rss():
    """The environment for a run whose peak RSS is measured: ASan's
    quarantine holds freed memory back (up to 256 MiB) and would grow with
    the work done whatever edgefetch keeps, so it is off (the release build
    ignores it)."""
    env = dict(os.environ)
    quarantine_off = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), quarantine_off]))
    return env


# ---- what a run printed --------------------------------------------------------------

def failed_lines(err):
    return [line for line in err.splitlines() if "FAILED" in line]


def failed_line(err, url):
    """The one FAILED line naming `url` (exactly, as a whole word)."""
    lines = [line for line in failed_lines(err) if f" {url}: " in line]
    check(len(lines) == 1, f"want one FAILED line for {url}, got {len(lines)}:\n{err}")
    return lines[0]


def expect_failed(err, url, line_no, *words):
    line = failed_line(err, url)
    check(f"line {line_no}: " in line, f"{url}: no 'line {line_no}:' in {line!r}")
    for word in words:
        check(word.lower() in line.lower(), f"{url}: reason lacks {word!r}: {line!r}")
    return line


def quoted(url):
    """`url` as one query-string value (a redirect target, a proxied URL)."""
    return urllib.parse.quote(url, safe="")


def ndjson(out):
    """The objects of a --json run's stdout, one a line."""
    return [json.loads(line) for line in out.splitlines()]


def screen(raw):
    """The final screen of a terminal that got `raw`: \\r, \\n and ESC[K."""
    lines, cur, col = [], [], 0
    i = 0
    text = raw.decode(errors="replace")
    while i < len(text):
        c = text[i]
        if text.startswith("\033[K", i):
            del cur[col:]
            i += 3
            continue
        if c == "\r":
            col = 0
        elif c == "\n":
            lines.append("".join(cur))
            cur, col = [], 0
        else:
            if col < len(cur):
                cur[col] = c
            else:
                cur.append(c)
            col += 1
        i += 1
    lines.append("".join(cur))
    return lines


def items_of(out):
    """(items by URL, the summary) of a --json run."""
    objs = ndjson(out)
    return {o["url"]: o for o in objs if o["type"] == "item"}, objs[-1]


# ---- output names' hashes, as io/names.c computes them ---------------------------

def fnv1a32(data, h=2166136261):
    """FNV-1a-32 of the bytes `data`, from the state `h` (to go on from a prefix)."""
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


# ---- docs/json.md: what the page says ------------------------------------------------

def doc_text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def doc_table_fields(section):
    """The field names of the table under '## `section`' ("`a`, `b`" rows
    name several fields)."""
    text = doc_text()
    begin = text.index(f"## `{section}`")
    end = text.find("\n## ", begin + 1)
    fields = []
    for line in text[begin:end if end > 0 else None].splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        fields += re.findall(r"`([a-z_0-9]+)`", first)
    return fields


def doc_list(after, until):
    """The backticked words between `after` and `until` in the page."""
    text = doc_text()
    begin = text.index(after) + len(after)
    return re.findall(r"`([a-z_]+)`", text[begin:text.index(until, begin)])


def doc_kinds():
    # `http_code` is named in passing (options are written `--name` and do
    # not match a bare word).
    return set(doc_list("`error.kind` is one of:", "`error.message`")) - {"http_code"}


def doc_stages():
    return set(doc_list("`error.stage` is where it failed:", "`error.kind`"))


def items_by_url(out):
    """The items of a --json run by URL; every failure's kind is one that
    docs/json.md lists."""
    kinds = doc_kinds()
    items = [o for o in ndjson(out) if o["type"] == "item"]
    for item in items:
        check(item["error"] is None or item["error"]["kind"] in kinds,
              f"{item['url']}: kind not in docs/json.md: {item['error']}")
    return {i["url"]: i for i in items}


# ---- the schema of docs/json.md, checked explicitly ----------------------

NUM = (int, float)
ITEM_FIELDS = {
    "type": str, "schema_version": int, "mode": str, "line": (int, type(None)), "url": str,
    "final_url": (str, type(None)), "status": str, "http_code": (int, type(None)),
    "error": (dict, type(None)), "attempts": int, "bytes": int, "width": (int, type(None)),
    "height": (int, type(None)), "output": (str, type(None)), "times_ms": dict,
    "operator_threads": int, "content_type": (str, type(None)), "sha256": (str, type(None)),
    "output_bytes": (int, type(None)), "format": (str, type(None)),
}
TIMES = ("queued", "download", "decode", "operator", "encode_write")
SUMMARY_FIELDS = {
    "type": str, "schema_version": int, "mode": str, "output_dir": str, "shard": (dict, type(None)),
    "edgefetch_version": str, "started_at": str, "ended_at": str, "host": (str, type(None)),
    "settings": dict,
    "items": int, "ok": int, "failed": int, "skipped": int, "cancelled": int, "duplicates": int,
    "retries": int, "stale_temps_removed": int, "bytes": int, "wall_ms": NUM, "network_ms": NUM,
    "cpu_ms": NUM, "stage_ms": dict, "process_cpu_ms": dict, "peak_rss_bytes": int,
    "peak_items_held": int, "memory_budget_bytes": int, "peak_reserved_bytes": int,
    "downloads": dict,
    "fds_leaked": (int, type(None)), "signal": (str, type(None)),
    "exit_code": int,
}
ERROR_KINDS = {"bad_url", "unsupported_scheme", "timeout", "connect", "resolve", "http_status",
               "too_large", "too_many_redirects", "redirect_refused", "tls", "out_of_memory",
               "network", "not_an_image", "too_many_pixels", "operator", "encode", "write",
               "cancelled", "other", "headers_too_large",
               "malformed_response", "unsupported_format", "corrupt", "truncated",
               "too_much_work", "over_budget"}


def check_fields(obj, fields, what):
    check(set(obj) == set(fields), f"{what}: fields {sorted(obj)} != {sorted(fields)}")
    for key, kind in fields.items():
        check(isinstance(obj[key], kind) and not (kind is int and isinstance(obj[key], bool)),
              f"{what}: {key}={obj[key]!r} is not {kind}")


def validate_item(obj):
    what = f"item {obj.get('url')}"
    check_fields(obj, ITEM_FIELDS, what)
    check(obj["type"] == "item" and obj["schema_version"] == 1, what)
    check(obj["status"] in ("ok", "failed", "skipped", "cancelled"), f"{what}: status")
    check(set(obj["times_ms"]) == set(TIMES), f"{what}: times {obj['times_ms']}")
    check(all(isinstance(v, NUM) and v >= 0 for v in obj["times_ms"].values()), what)
    check(obj["bytes"] >= 0 and obj["attempts"] >= 0, what)
    if obj["status"] in ("failed", "cancelled"):
        err = obj["error"]
        check(err is not None and set(err) == {"kind", "stage", "message"}, f"{what}: {err}")
        check(err["kind"] in ERROR_KINDS and isinstance(err["message"], str) and err["message"],
              f"{what}: error {err}")
        check(obj["output"] is None, f"{what}: failed item with an output")
    else:
        check(obj["error"] is None and obj["output"] is not None, f"{what}: {obj}")
    if obj["status"] == "ok":
        check(obj["http_code"] == 200 and obj["width"] > 0 and obj["height"] > 0, what)
        check(obj["final_url"] is not None and obj["bytes"] > 0, what)
        check(os.path.isfile(obj["output"]), f"{what}: output {obj['output']} missing")


def validate_summary(obj):
    check_fields(obj, SUMMARY_FIELDS, "summary")
    check(obj["type"] == "summary" and obj["schema_version"] == 1, "summary type")
    check(set(obj["stage_ms"]) == {"download", "decode", "operator", "encode_write"}, "stage_ms")
    check(set(obj["process_cpu_ms"]) == {"user", "system"}, "process_cpu_ms")
    check(set(obj["downloads"]) == {"adaptive", "start", "ceiling", "peak_cap", "rises_to_peak",
                                    "final_cap", "peak_in_flight"}, f"downloads {obj['downloads']}")
    check(obj["peak_rss_bytes"] > 1 << 20, f"peak RSS {obj['peak_rss_bytes']}")
    check(obj["fds_leaked"] in (0, None), f"{obj['fds_leaked']} file descriptor(s) leaked")
    check(obj["ok"] + obj["failed"] + obj["skipped"] + obj["cancelled"] == obj["items"], "counts")


def validate_run(out):
    objs = ndjson(out)
    check(objs, "no JSON on stdout")
    for obj in objs[:-1]:
        validate_item(obj)
    validate_summary(objs[-1])
    return objs[:-1], objs[-1]


# ---- files ---------------------------------------------------------------------------

def read(path):
    with open(path, "rb") as f:
        return f.read()


def tree(path):
    """Every file below `path`, relative, sorted, hidden ones and symlinks included."""
    found = []
    for dirpath, dirnames, files in os.walk(path):
        for name in files + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            found.append(os.path.relpath(os.path.join(dirpath, name), path))
    return sorted(found)


class Workspace:
    """A served folder (.www) with `photos` copied in, a scratch output folder
    (.out) and the URL lists, all in one temporary folder whose whole tree
    check_tree() checks."""

    def __init__(self, photos=()):
        self.tmp = tempfile.mkdtemp(prefix="edgefetch-it-")
        self.www = os.path.join(self.tmp, "www")
        self.out = os.path.join(self.tmp, "out")
        self.lists = []
        os.makedirs(self.www)
        for name in photos:
            shutil.copy(os.path.join(SAMPLES, name), self.www)

    def write(self, name, data):
        path = os.path.join(self.www, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def photo(self, name, source=None):
        self.write(name, read(os.path.join(SAMPLES, source or PHOTOS[0])))

    def list_file(self, lines, name="urls.txt", raw=None):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(raw if raw is not None else ("\n".join(lines) + "\n").encode())
        if name not in self.lists:
            self.lists.append(name)
        return path

    def check_tree(self, expected_out):
        """The whole workspace: served files, lists and exactly `expected_out`
        in the output folder. Catches writes outside the output folder and
        temporary files left behind."""
        out = os.path.relpath(self.out, self.tmp)
        want = sorted(["www/" + n for n in tree(self.www)] + self.lists
                      + [out + "/" + n for n in expected_out])
        got = tree(self.tmp)
        check(got == want, f"workspace tree:\n  got  {got}\n  want {want}")
        for name in expected_out:
            check(is_complete_png(read(os.path.join(self.out, name))), f"{name} is not a whole PNG")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- servers -------------------------------------------------------------------------

class Fixture(FixtureServer):
    """The fixture server, whose own exit status is checked too: hostile
    clients are its daily bread, and under ASan a report makes it exit non-zero."""

    def __exit__(self, exc_type, exc, tb):
        rc = self.stop()
        if exc_type is None and rc != 0:
            raise Failure(f"the fixture server exited with status {rc} (see its stderr)")


def per_path(server):
    return server.stats()["per_path"]


def times(server, path):
    return server.stats()["per_path_times_ms"].get(path, [])


def free_port():
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tripwire:
    """A socket on 127.0.0.1 that listens and never accepts (.port): for a
    URL that must not be connected to; touched() says whether anything did."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        return self

    def touched(self):
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def __exit__(self, *exc):
        self.sock.close()


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Signals `proc` if it still runs, waits, kills it if it will not go."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def quiescent(pid, samples=3, interval_s=0.2, deadline_s=120):
    """Returns once no thread of process `pid` runs or waits to run and its
    CPU time stands still over `samples` looks: it is blocked (a read of a
    silent pipe, a full stderr) and its workers have nothing left to do."""
    def look():
        states, ticks = [], 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue  # a thread that just ended
            states.append(fields[0])
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return "R" not in states, ticks

    deadline = time.monotonic() + deadline_s
    still, last = 0, None
    while still < samples:
        check(time.monotonic() < deadline, f"process {pid} kept running for {deadline_s} s")
        idle, ticks = look()
        still = still + 1 if idle and ticks == last else 0
        last = ticks
        time.sleep(interval_s)


def signals_pending(pid):
    """True while a signal sent to `pid` is not yet delivered to a thread."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except FileNotFoundError:
            continue
        if int(fields["SigPnd"], 16) != 0 or int(fields["ShdPnd"], 16) != 0:
            return True
    return False


def signal_and_finish(proc, sig=signal.SIGTERM, timeout=60, still=None):
    """Sends `sig` to `proc` and collects it as communicate() does, its
    stdin left open (a list's producer that stays there): (stdout, stderr,
    seconds from the signal to the exit), bytes or None for a stream not
    piped. A signal must end it: still there after `timeout` s, it is killed
    and the case fails (`still` says why that is wrong)."""
    stdin, proc.stdin = proc.stdin, None
    sent = time.monotonic()
    try:
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise Failure(still or f"still running {timeout} s after {sig.name}")
    finally:
        proc.stdin = stdin
    return out, err, time.monotonic() - sent


def wait_body_sent(server, proc, sent_before, interval_s=0.005, timeout=60):
    """Waits until the fixture `server` has sent more than `sent_before`
    bytes and has no transfer left in flight: the body is all out, so what
    `proc` does next is decode and operator work. Fails if `proc` ends
    first."""
    deadline = time.monotonic() + timeout
    while True:
        stats = server.stats()
        if stats["bytes_sent"] > sent_before and stats["inflight"] == 0:
            return
        check(proc.poll() is None, f"ended (exit {proc.returncode}) before the signal")
        check(time.monotonic() < deadline, f"the download did not end: {stats}")
        time.sleep(interval_s)


def wait_hanging(server, proc, timeout=120):
    """Waits until one transfer of the fixture `server` hangs (a ?stall
    URL); fails if `proc` ends first."""
    deadline = time.monotonic() + timeout
    while server.stats()["hanging"] != 1:
        check(proc.poll() is None, f"ended before its transfer stalled: {proc.returncode}")
        check(time.monotonic() < deadline, "the transfer never stalled")
        time.sleep(0.05)


@contextlib.contextmanager
def reaped(proc):
    """A block a started process may outlive (a case failing half way): the
    process is killed at its end if it still runs, and waited for."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_stopped(rc, err, sig, what, said=True, report=False, out=None):
    """A run stopped by `sig`, as README's Exit status has it: exit 128 + its
    number; when `said`, the stop on stderr ("stopped by Terminated"), with
    the report when `report`; nothing in the folder `out` when given."""
    want = 128 + sig
    check(rc == want, f"{what}: returncode {rc}, want {want}: {err}")
    if said:
        check(f"stopped by {signal.strsignal(sig)}" in err, f"{what}: the stop not said: {err}")
    if report:
        check("images ok" in err, f"{what}: no report: {err}")
    if out is not None:
        check(tree(out) == [], f"{what}: left {tree(out)}")


NGINX_TEMPS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def nginx_conf(tmp, http_body, error_level="info", worker_connections=64):
    """An nginx.conf for one unprivileged nginx process whose every file is
    under `tmp` (its temporary folders made here); `http_body` goes inside
    http { } (log format, access_log, types, servers)."""
    for sub in NGINX_TEMPS:
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    temps = "\n".join(f"    {sub}_temp_path {tmp}/{sub};" if sub != "body" else
                      f"    client_body_temp_path {tmp}/body;" for sub in NGINX_TEMPS)
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log {error_level};
events {{ worker_connections {worker_connections}; }}
http {{
{temps}
{http_body}
}}
"""


class Nginx:
    """Debian's nginx on 127.0.0.1:port serving `root` over HTTPS with
    HTTP/2, with a certificate for 127.0.0.1 made at start (.cacert); its
    access log (.access_log) has '$request_uri $server_protocol $status
    $body_bytes_sent' per request. Skips without nginx or openssl."""

    def __init__(self, root):
        self.root = root
        self.nginx = nginx_binary()
        if self.nginx is None or shutil.which("openssl") is None:
            raise Skip("needs nginx (Debian nginx-light) and openssl: make test-deps installs them")
        self.tmp = tempfile.mkdtemp(prefix="edgefetch-nginx-")
        self.cacert = os.path.join(self.tmp, "ca.pem")
        self.access_log = os.path.join(self.tmp, "access.log")
        self.port = None
        self.proc = None

    def url(self, path):
        return f"https://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def __enter__(self):
        from certs import CertError, make_certs
        try:
            try:
                make_certs(self.tmp)
            except CertError as e:
                raise Failure(str(e))
            self.port = free_port()
            conf = os.path.join(self.tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(nginx_conf(self.tmp, f"""    log_format proto '$request_uri $server_protocol $status $body_bytes_sent';
    access_log {self.access_log} proto;
    types {{ image/jpeg jpg; }}
    server {{
        listen 127.0.0.1:{self.port} ssl http2;
        server_name localhost;
        ssl_certificate {self.tmp}/server.pem;
        ssl_certificate_key {self.tmp}/server.key;
        root {self.root};
    }}"""))
            self.proc = subprocess.Popen([self.nginx, "-e", os.path.join(self.tmp, "error.log"),
                                          "-p", self.tmp, "-c", conf],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 10
            while True:
                if self.proc.poll() is not None:
                    raise Failure(f"nginx exited: {self.proc.stderr.read().decode()}"
                                  + read(os.path.join(self.tmp, "error.log")).decode(errors="replace"))
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise Failure("nginx did not start listening")
                    time.sleep(0.05)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        stop_process(self.proc, signal.SIGQUIT)
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- the machine ---------------------------------------------------------------------

def in_netns(script, case, tools=("unshare", "ip"), probe=("true",), unshare=("-n",)):
    """Runs `case` of `script` again inside a new network namespace with only
    loopback up, so no packet can leave the machine: returns False in the
    parent (after checking the child's result) and True in the namespace,
    where the case goes on. Skips without the tools or the right to unshare."""
    if os.environ.get("EDGEFETCH_IN_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        check(all(name == "lo" for _, name in socket.if_nameindex()),
              f"namespace has other interfaces: {socket.if_nameindex()}")
        return True
    for tool in tools:
        if shutil.which(tool) is None:
            raise Skip(f"needs {' and '.join(tools)}")
    trial = subprocess.run(["unshare", *unshare, *probe], capture_output=True)
    if trial.returncode != 0:
        raise Skip(f"cannot create a network namespace: {trial.stderr.decode().strip()}")
    env = dict(os.environ, EDGEFETCH_IN_NETNS="1")
    proc = subprocess.run(["unshare", *unshare, sys.executable, os.path.abspath(script), case],
                          env=env, capture_output=True, timeout=300)
    sys.stdout.write(proc.stdout.decode(errors="replace"))
    if proc.returncode != 0:
        raise Failure(f"in the namespace: exit {proc.returncode}\n"
                      + proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace"))
    return False


# ---- images made by other tools, runs over served files ------------------

def tool(*args, cwd):
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, timeout=120)
    check(proc.returncode == 0, f"{' '.join(args)}: {proc.stderr.decode(errors='replace')}")


def source_png(ws, name="src.png", size="160x120"):
    """A sample photo, scaled down, as PNG: the pixels every encoder gets."""
    photo = sorted(n for n in os.listdir(SAMPLES) if n.endswith(".jpg"))[0]
    tool("convert", os.path.join(SAMPLES, photo), "-resize", size + "!", name, cwd=ws.www)


def fetch(ws, server, names, extra=()):
    """Runs edgefetch on the served `names`; returns (rc, stderr, json items by name)."""
    urls = [server.url(n) for n in names]
    rc, out, err, _ = run_timed(["--json", "-i", ws.list_file(urls), "-o", ws.out, "--force",
                           "--retries", "0"] + list(extra))
    items = {}
    for line in out.splitlines():
        item = json.loads(line)
        if item["type"] == "item":
            items[item["url"].rsplit("/", 1)[1]] = item
    return rc, err, items


# ---- pipes a test holds full (a child's writes to them block) -------------

FILLER = b"~"


def full_pipe():
    """A pipe of one page whose buffer the case has filled: a write to its
    write end blocks until the read end is drained. (read fd, write fd)."""
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    fill(write_fd)
    return read_fd, write_fd


def fill(write_fd):
    """Fills the pipe's buffer to the last byte (the descriptor is left
    blocking: O_NONBLOCK belongs to the open file, which the child shares)."""
    os.set_blocking(write_fd, False)
    try:
        for size in (4096, 512, 64, 8, 1):
            try:
                while True:
                    os.write(write_fd, FILLER * size)
            except BlockingIOError:
                pass
    finally:
        os.set_blocking(write_fd, True)


class Drain:
    """Reads a descriptor to its end on a thread, once started."""

    def __init__(self, fd):
        self.fd = fd
        self.chunks = []
        self.thread = threading.Thread(target=self._read, daemon=True)

    def start(self):
        self.thread.start()

    def _read(self):
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self.chunks.append(chunk)

    def text(self, timeout=60):
        self.thread.join(timeout)
        check(not self.thread.is_alive(), "the stream did not end")
        return b"".join(self.chunks).lstrip(FILLER).decode(errors="replace")


def serve_heads(sock, respond):
    """Accepts connections on the listening `sock` one at a time until it is
    closed; for each, reads the request's head (read_head) and calls
    `respond(conn, head)`, then closes the connection."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            respond(conn, read_head(conn))


class JpegHandler(http.server.BaseHTTPRequestHandler):
    """Serves `body` as image/jpeg to every GET, appending `recorded()` (of
    the request) to `seen` first. A subclass sets its own `seen = []` and
    `body`, and says what to record."""
    seen = None
    body = b""

    def recorded(self):
        raise NotImplementedError

    def do_GET(self):  # noqa: N802
        type(self).seen.append(self.recorded())
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def read_head(sock):
    """Reads from `sock` until the end of an HTTP head (a blank line) or the
    peer's close; returns the bytes read (the head is whole when they hold
    b"\r\n\r\n")."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return head
