#!/usr/bin/env python3
"""What --help (and so the README's option table and the man page, which
test_options.py holds equal to it) says of the options, held to what the
binary does. Every claim is read from `edgefetch --help` at test time, so an
edit of the text or of the code that makes them part goes red:

- ranges: each bound an option's help states ("1-1024", "0-2040", at most 64
  -H, the PNG levels) is accepted and one past it refused (exit 2, the
  option named), for every option that states one;
- units: "(k/M/G, powers of 1000)" and "powers of 1024" hold where the
  result can be seen (--max-size on a body, --max-pixels on an image,
  --max-memory in the --json summary);
- defaults: the defaults --help states as words, not numbers printed from
  pl_options_init ("online CPUs", "half the RAM or cgroup limit, at most
  4G", "starts at 32 and rises to 256", --compare's "-j 4 unless -j is
  given"), and the numeric ones a run can show (-j, --max-per-host,
  --retries, --png-level, --operator in the summary; --max-size and
  --max-pixels at their exact default on a body and an image);
- safety_defaults: the Safety table's bracketed defaults are --help's;
- config_default_path: the default config file the man page describes.

    test_readme_options.py CASE   (meson: readme_options_CASE)
"""
import os
import re
import resource
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FAST_RETRY, FIXTURE, PHOTOS, Fixture, Workspace, check, items_of,  # noqa: E402
                     main_for, ndjson, run)
from pngutil import write_png  # noqa: E402

HELP_TEXT_COLUMN = 27  # cmd/options.c: where --help's descriptions start
NOWHERE = "http://127.0.0.1:9/a.jpg"  # a --dry-run sends nothing


def help_entries():
    """{long name: its description as one line} from `edgefetch --help`."""
    rc, out, err = run(["--help"])
    check(rc == 0, f"--help: exit {rc}: {err}")
    entries = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"^  (?:-\w, |    )--([a-z0-9-]+)", line)
        if m:
            name = m.group(1)
            text = line[HELP_TEXT_COLUMN:] if len(line) > HELP_TEXT_COLUMN and \
                line[HELP_TEXT_COLUMN - 2:HELP_TEXT_COLUMN] == "  " else ""
            entries[name] = text.strip()
        elif name is not None and line.startswith(" " * HELP_TEXT_COLUMN):
            entries[name] = (entries[name] + " " + line.strip()).strip()
        else:
            name = None
    check(len(entries) > 30, f"--help: {len(entries)} options read: {out}")
    return entries


def default_of(text):
    m = re.search(r"\(default: ([^()]*(?:\([^()]*\)[^()]*)*)\)$", text)
    return m.group(1) if m else None


def dry(args, tmp):
    return run(["--dry-run", "-o", os.path.join(tmp, "out")] + args + [NOWHERE])


# ---- ranges -----------------------------------------------------------------------------

def stated_bounds(entries):
    """[(option, low, high)] for each range an option's help states: ", A-B"
    ending a clause; the PNG levels ("0 stored, ... 2-9 smaller")."""
    bounds = []
    for name, text in entries.items():
        for m in re.finditer(r", (\d+)-(\d+)(?=[,;]|$| \()", text):
            bounds.append((name, int(m.group(1)), int(m.group(2))))
    levels = [int(n) for n in re.findall(r"(\d+)", entries["png-level"].split("(default")[0])]
    bounds.append(("png-level", min(levels), max(levels)))
    return bounds


def context(name, value):
    """What else the command line needs for `--name value` to be judged on
    its own: the Canny thresholds need --operator canny and the other
    threshold on the right side of it (--high at least --low); --sigma
    needs --operator canny."""
    if name == "low":
        return ["--operator", "canny", "--high", "2040" if value <= 2040 else str(value)]
    if name == "high":
        return ["--operator", "canny", "--low", "0"]
    if name == "sigma":
        return ["--operator", "canny"]
    return []


def test_ranges():
    """Each stated bound is accepted, one past it refused with exit 2 and a
    message naming the option and the range; -H: 64 accepted, a 65th
    refused; --high below --low refused ("at least --low")."""
    entries = help_entries()
    bounds = stated_bounds(entries)
    names = {b[0] for b in bounds}
    # What --help states today; a range dropped from the text shows here.
    for want in ("max-downloads", "workers", "sigma", "low", "high", "png-level", "max-redirs",
                 "retries"):
        check(want in names, f"--help states no range for --{want}: {entries.get(want)!r}")
    with Workspace() as ws:
        for name, low, high in bounds:
            for value in (low, high):
                rc, out, err = dry([f"--{name}", str(value)] + context(name, value), ws.tmp)
                check(rc == 0 and out.startswith("fetch\t"),
                      f"--{name} {value} (help: {low}-{high}) refused: exit {rc}: {err}")
            for value in (low - 1, high + 1):
                rc, out, err = dry([f"--{name}={value}"] + context(name, value), ws.tmp)
                check(rc == 2 and out == "", f"--{name} {value} (help: {low}-{high}): exit {rc}")
                check(f"--{name}" in err and str(low) in err and str(high) in err,
                      f"--{name} {value}: the message names neither it nor its range: {err!r}")
        rc, _, err = dry(["--operator", "canny", "--low", "50", "--high", "49"], ws.tmp)
        check("at least --low" in entries["high"] and rc == 2 and "--high" in err,
              f"--high below --low: exit {rc}: {err}")

        m = re.search(r"repeatable \(at most (\d+)\)", entries["header"])
        check(m is not None, f"-H: no 'at most N' in {entries['header']!r}")
        most = int(m.group(1))
        headers = [a for i in range(most) for a in ("-H", f"X-H{i}: v")]
        rc, _, err = dry(headers, ws.tmp)
        check(rc == 0, f"{most} -H refused: exit {rc}: {err}")
        rc, _, err = dry(headers + ["-H", "X-One-More: v"], ws.tmp)
        check(rc == 2 and f"at most {most}" in err, f"{most + 1} -H: exit {rc}: {err}")


# ---- units ------------------------------------------------------------------------------

def factor_pair(n):
    """w, h with w * h == n, as square as it gets."""
    w = int(n ** 0.5)
    while n % w:
        w -= 1
    return n // w, w


def gray_png(width, height):
    return write_png(width, height, [bytes(width)] * height)


def claimed_png(width, height):
    """A PNG header claiming width x height over one tiny IDAT: refused or
    failed on its header alone, never decoded whole."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def kind_of(item):
    return item["error"]["kind"] if item["error"] else None


def test_units():
    """"k" is the power of 1000 or of 1024 that --help says: --max-size 1k
    takes a body of `base` bytes and refuses `base`+1 as too_large;
    --max-pixels 1k decodes an image of `base` pixels and refuses `base`+1
    as too_many_pixels; --max-memory 1M is base² bytes of budget. Every
    option whose help states a power is one of those, but --rate-limit and
    --low-speed-limit (a rate is seen only by the clock: tests/unit/
    test_cli_parse.c holds their units)."""
    entries = help_entries()
    stated = {}
    for name, text in entries.items():
        m = re.search(r"\(k/M/G, powers of (1000|1024)\)", text)
        if m:
            stated[name] = int(m.group(1))
    observed = {"max-size", "max-pixels", "max-memory"}
    check(set(stated) == observed | {"rate-limit", "low-speed-limit"},
          f"options stating a unit: {sorted(stated)}; observed here: {sorted(observed)}")
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        base = stated["max-size"]
        ws.write("fits.bin", b"x" * base)
        ws.write("over.bin", b"x" * (base + 1))
        rc, out, err = run(["--json", "-q", "--max-size", "1k", "-o", ws.out,
                            server.url("fits.bin"), server.url("over.bin")])
        items, _ = items_of(out)
        check(kind_of(items[server.url("fits.bin")]) == "not_an_image",
              f"--max-size 1k, {base} bytes: {items[server.url('fits.bin')]['error']}")
        check(kind_of(items[server.url("over.bin")]) == "too_large",
              f"--max-size 1k, {base + 1} bytes: {items[server.url('over.bin')]['error']}")

        base = stated["max-pixels"]
        ws.write("fits.png", gray_png(*factor_pair(base)))
        ws.write("over.png", gray_png(*factor_pair(base + 1)))
        rc, out, err = run(["--json", "-q", "--max-pixels", "1k", "-o", ws.out,
                            server.url("fits.png"), server.url("over.png")])
        items, _ = items_of(out)
        check(items[server.url("fits.png")]["status"] == "ok",
              f"--max-pixels 1k, {base} pixels: {items[server.url('fits.png')]['error']}")
        check(kind_of(items[server.url("over.png")]) == "too_many_pixels",
              f"--max-pixels 1k, {base + 1} pixels: {items[server.url('over.png')]['error']}")

        base = stated["max-memory"]
        rc, out, err = run(["--json", "-q", "--max-memory", "1M", "-o", ws.out,
                            "--force", server.url("fits.png")])
        _, summary = items_of(out)
        check(rc == 0 and summary["memory_budget_bytes"] == base * base,
              f"--max-memory 1M: {summary['memory_budget_bytes']}, want {base * base}: {err}")


# ---- defaults ---------------------------------------------------------------------------

def cgroup_limit():
    """The lowest memory limit of this process's cgroup and its ancestors
    (v2 memory.max, v1 memory.limit_in_bytes), as pipeline/options.c reads
    them, or None."""
    limits = []
    with open("/proc/self/cgroup") as f:
        for line in f.read().splitlines():
            number, controllers, path = line.split(":", 2)
            if number == "0" and controllers == "":
                mount, name = "/sys/fs/cgroup", "memory.max"
            elif "memory" in controllers.split(","):
                mount, name = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
            else:
                continue
            parts = [p for p in path.split("/") if p]
            for depth in range(len(parts), -1, -1):
                try:
                    with open(os.path.join(mount, *parts[:depth], name)) as limit:
                        text = limit.read().strip()
                except OSError:
                    continue
                if text.isdigit() and int(text) > 0:
                    limits.append(int(text))
    return min(limits) if limits else None


def memory_default(words):
    """"half the RAM or cgroup limit, at most 4G" as pipeline/options.c's
    default_max_memory is to compute it, from this machine."""
    m = re.fullmatch(r"half the RAM or cgroup limit, at most (\d+)G", words)
    check(m is not None, f"--max-memory's default reads {words!r}")
    available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limit = cgroup_limit()
    if limit is not None:
        available = min(available, limit)
    return min(available // 2, int(m.group(1)) << 30)


def test_defaults():
    """A run with no option against what --help says it does: the summary's
    settings and download cap (-j's "starts at N and rises to M", -w's
    "online CPUs", --max-per-host, --retries, --png-level, --operator),
    its memory budget (--max-memory's words, computed here as the code
    would), --compare's -j, --retries' count of tries, and --max-size's and
    --max-pixels' own defaults at the byte and the pixel."""
    entries = help_entries()
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        flaky = server.url("flaky.jpg?fail_times=10&status=503")
        rc, out, err = run(["--json", "-q", "-o", ws.out] + FAST_RETRY +
                           [server.url(PHOTOS[0]), flaky])
        check(rc == 1, f"exit {rc}: {err}")
        items, s = items_of(out)
        settings, cap = s["settings"], s["downloads"]

        m = re.search(r"without -j the cap starts at (\d+) and rises to (\d+)", entries["max-downloads"])
        check(m is not None, f"-j: {entries['max-downloads']!r}")
        start, ceiling = int(m.group(1)), int(m.group(2))
        check(default_of(entries["max-downloads"]) == str(start), f"-j: {entries['max-downloads']!r}")
        check(settings["max_downloads"] == start and cap["start"] == start and cap["adaptive"],
              f"-j: {settings} {cap}, want an adaptive cap from {start}")
        # The ceiling is the stated one where the descriptor limit holds it
        # (README: 3 a transfer, 2 a worker, 16 more and those open at start,
        # a few here), lowered where it does not.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        need = 3 * ceiling + 2 * settings["workers"] + 16 + 16
        if hard == resource.RLIM_INFINITY or hard >= need:
            check(cap["ceiling"] == ceiling, f"-j: ceiling {cap['ceiling']}, --help says {ceiling}")
        else:
            check(cap["ceiling"] < ceiling, f"-j: ceiling {cap['ceiling']} with {hard} descriptors")

        check(default_of(entries["workers"]) == "online CPUs", f"-w: {entries['workers']!r}")
        online = os.sysconf("SC_NPROCESSORS_ONLN")
        check(settings["workers"] == online, f"-w: {settings['workers']} workers, {online} online CPUs")

        for name, field in (("max-per-host", "max_per_host"), ("retries", "retries"),
                            ("png-level", "png_level"), ("operator", "operator")):
            want = default_of(entries[name])
            check(str(settings[field]) == want, f"--{name}: {settings[field]} run, --help says {want}")
        tries = int(default_of(entries["retries"])) + 1
        check(items[flaky]["attempts"] == tries, f"--retries: {items[flaky]['attempts']} tries, want {tries}")

        budget = memory_default(default_of(entries["max-memory"]))
        check(s["memory_budget_bytes"] == budget,
              f"--max-memory: {s['memory_budget_bytes']}, want {budget} from {entries['max-memory']!r}")

        m = re.search(r"-j (\d+) \(the lesson's\) unless -j is given", entries["compare"])
        check(m is not None, f"--compare: {entries['compare']!r}")
        for extra, want in (([], int(m.group(1))), (["-j", "6"], 6)):
            rc, out, err = run(["--json", "-q", "--compare", "-o", os.path.join(ws.tmp, "cmp"),
                                "--force", server.url(PHOTOS[0])] + extra)
            summaries = {o["mode"]: o for o in ndjson(out) if o["type"] == "summary"}
            check(rc == 0 and set(summaries) == {"sequential", "concurrent"},
                  f"--compare {extra}: exit {rc}: {err}")
            concurrent = [summaries["concurrent"]]
            # docs/json.md: `start` is 1 sequential.
            check(summaries["sequential"]["downloads"]["start"] == 1,
                  f"--compare {extra}: sequential {summaries['sequential']['downloads']}")
            got = concurrent[0]["downloads"]
            check(got["start"] == want and not got["adaptive"] and
                  concurrent[0]["settings"]["max_downloads"] == want,
                  f"--compare {extra}: {got}, want a fixed -j {want}")

        # --max-size and --max-pixels at their own defaults, to the byte and
        # the pixel: a body of exactly the default is taken (and fails as
        # what it is), one more byte is not; an image header of exactly the
        # default passes the pixel check (and fails on its data), one more
        # row does not.
        size = parse_count(default_of(entries["max-size"]), 1024)
        ws.write("size-fits.bin", b"x" * size)
        ws.write("size-over.bin", b"x" * (size + 1))
        pixels = parse_count(default_of(entries["max-pixels"]), 1000)
        width, height = factor_pair(pixels)
        ws.write("px-fits.png", claimed_png(width, height))
        ws.write("px-over.png", claimed_png(width, height + 1))
        urls = [server.url(n) for n in ("size-fits.bin", "size-over.bin", "px-fits.png", "px-over.png")]
        rc, out, err = run(["--json", "-q", "-w", "1", "-o", ws.out] + urls, timeout=300)
        items, _ = items_of(out)
        kinds = [kind_of(items[u]) for u in urls]
        check(kinds[0] == "not_an_image" and kinds[1] == "too_large",
              f"--max-size {size}: a body of {size} bytes {kinds[0]}, {size + 1} {kinds[1]}")
        check(kinds[2] not in (None, "too_many_pixels") and kinds[3] == "too_many_pixels",
              f"--max-pixels {pixels}: {width}x{height} {kinds[2]}, {width}x{height + 1} {kinds[3]}")


def test_safety_defaults():
    """The defaults README's Safety table gives in brackets ("`--timeout`
    [60 s]", "`--max-size` [64 MiB]", ...) are --help's."""
    entries = help_entries()
    with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "README.md"),
              encoding="utf-8") as f:
        readme = f.read()
    safety = readme[readme.index("## Safety"):readme.index("Memory stays bounded")]
    stated = re.findall(r"`--([a-z-]+)` \[([^]]*)\]", safety)
    check(len(stated) >= 10, f"Safety: {stated}")
    for name, text in stated:
        want = default_of(entries[name])
        if name == "max-memory":
            m = re.fullmatch(r"half the RAM or cgroup limit, at most (\d+)G", want)
            ok = (m is not None and text.startswith("half of the RAM, or of the limit of the "
                                                     "process's cgroup") and
                  text.endswith(f"at most {m.group(1)} GiB"))
        else:
            got = re.sub(r" (?:s|Mi?B?|M)$", lambda u: "M" if "M" in u.group(0) else "", text)
            ok = got == want
        check(ok, f"Safety says --{name} [{text}], --help's default is {want!r}")


def test_config_default_path():
    """The default config file, as edgefetch(1) says: $XDG_CONFIG_HOME's
    when that is an absolute path, else ~/.config's (XDG_CONFIG_HOME unset,
    empty or relative); a file that says -j 0 shows which one was read."""
    with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "edgefetch.1"),
              encoding="utf-8") as f:
        page = " ".join(f.read().split())
    check("is unset, empty or not an absolute path" in page, "man page: the default config's rule")
    with Workspace() as ws:
        home, xdg = os.path.join(ws.tmp, "home"), os.path.join(ws.tmp, "xdg")
        files = {"home": os.path.join(home, ".config", "edgefetch", "config"),
                 "xdg": os.path.join(xdg, "edgefetch", "config")}
        for path in files.values():
            os.makedirs(os.path.dirname(path))
            with open(path, "w") as f:
                f.write("max-downloads 0\n")
        env = dict(os.environ, HOME=home)
        for value, want in ((xdg, "xdg"), (None, "home"), ("", "home"),
                            (os.path.relpath(xdg), "home")):
            env.pop("XDG_CONFIG_HOME", None)
            if value is not None:
                env["XDG_CONFIG_HOME"] = value
            rc, _, err = run(["--dry-run", NOWHERE], env=env)
            check(rc == 2 and f"{files[want]}:1: --max-downloads" in err,
                  f"XDG_CONFIG_HOME={value!r}: want {files[want]} read: exit {rc}: {err}")


def parse_count(text, base):
    m = re.fullmatch(r"(\d+)([kMG]?)", text)
    check(m is not None, f"a count: {text!r}")
    return int(m.group(1)) * base ** " kMG".index(m.group(2) or " ")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
