#!/usr/bin/env python3
"""The constant of the README's memory bound ("the peak RSS is at most
--max-memory ... plus the bodies held plus about 32 MiB ...; N MiB measured
for a run of small images with -w 4"), read from the README: a run of 200
PNGs of 64×64 with -w 4 peaks (the --json summary's VmHWM) under what the
CPU stage reserved, the bodies held and that constant; the peak is printed,
the number the README quotes.

cgroup_budget: --max-memory's default, "half the RAM or cgroup limit", is
half the limit of the cgroup the process is in, or of an ancestor's when
that is lower (a Slurm job over its step), in cgroup v2 and v1: run in a
private mount namespace over a /sys/fs/cgroup of this test's (a tmpfs) and
a /proc/self/cgroup of its own (a file bound over it), so no real cgroup is
touched.

    test_readme_memory.py CASE   (meson: readme_memory_CASE)
"""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, Failure, Fixture, Skip, Workspace, check, env_for_rss,  # noqa: E402
                     items_of, main_for, ndjson, run)
from pngutil import write_png  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
MIB = 1 << 20


def test_base():
    with open(os.path.join(SOURCE_ROOT, "README.md"), encoding="utf-8") as f:
        readme = " ".join(f.read().split())
    m = re.search(r"plus the bodies held plus about (\d+) MiB \(the binary and its libraries", readme)
    check(m is not None, "README: no 'plus the bodies held plus about N MiB'")
    base_mib = int(m.group(1))
    with open(os.path.join(SOURCE_ROOT, "docs", "edgefetch.1"), encoding="utf-8") as f:
        page = " ".join(f.read().split())
    m = re.search(r"and a base of about (\d+) MiB", page)
    check(m is not None and int(m.group(1)) == base_mib,
          f"man page's base {m.group(1) if m else None} MiB, README's {base_mib}")
    check(re.search(r"; \d+ MiB measured for 200 PNGs of 64×64 with `-w 4`", readme),
          "README: the measured figure and what it was measured on")
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        body = write_png(64, 64, [bytes(range(64))] * 64)
        ws.write("t.png", body)
        lst = ws.list_file([server.url(f"t{i}.png?file=t.png") for i in range(200)])
        rc, out, err = run(["--json", "-q", "-w", "4", "-i", lst, "-o", ws.out], env=env_for_rss())
        check(rc == 0, f"exit {rc}: {err}")
        _, s = items_of(out)
        check(s["ok"] == 200, f"{s['ok']} ok")
        peak = s["peak_rss_bytes"]
        bound = s["peak_reserved_bytes"] + s["peak_items_held"] * len(body) + base_mib * MIB
        print(f"peak RSS {peak / MIB:.1f} MiB (200 PNGs of 64x64, -w 4); bound {bound / MIB:.1f} MiB")
        check(peak <= bound, f"peak RSS {peak / MIB:.1f} MiB over the README's bound {bound / MIB:.1f}")


GIB = 1 << 30
# (what /proc/self/cgroup says, {file under /sys/fs/cgroup: its text}, the
# limit that binds): v2, the job's limit over its step's "max"; v1, the
# step's own under the job's and the root's "no limit".
CGROUPS = [
    ("0::/job_1/step_0\n",
     {"job_1/memory.max": str(2 * GIB), "job_1/step_0/memory.max": "max"}, 2 * GIB),
    ("4:memory:/job_2/step_1\n0::/\n",
     {"memory/memory.limit_in_bytes": "9223372036854771712",
      "memory/job_2/memory.limit_in_bytes": "9223372036854771712",
      "memory/job_2/step_1/memory.limit_in_bytes": str(3 * GIB // 2)}, 3 * GIB // 2),
]


def test_cgroup_budget():
    if os.environ.get("EDGEFETCH_IN_MOUNT_NS") != "1":
        if shutil.which("unshare") is None:
            raise Skip("needs unshare (util-linux)")
        trial = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                               capture_output=True)
        if trial.returncode != 0:
            raise Skip(f"cannot create a mount namespace: {trial.stderr.decode().strip()}")
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                               os.path.abspath(__file__), "cgroup_budget"],
                              env=dict(os.environ, EDGEFETCH_IN_MOUNT_NS="1"),
                              capture_output=True, timeout=120)
        sys.stdout.write(proc.stdout.decode(errors="replace"))
        if proc.returncode != 0:
            raise Failure("in the mount namespace: " + proc.stdout.decode(errors="replace") +
                          proc.stderr.decode(errors="replace"))
        return
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    with Workspace() as ws:
        for self_cgroup, files, limit in CGROUPS:
            subprocess.run(["mount", "-t", "tmpfs", "none", "/sys/fs/cgroup"], check=True)
            try:
                for name, text in files.items():
                    path = os.path.join("/sys/fs/cgroup", name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w") as f:
                        f.write(text + "\n")
                fake = os.path.join(ws.tmp, "cgroup")
                with open(fake, "w") as f:
                    f.write(self_cgroup)
                # The shell becomes edgefetch (exec): its /proc/self/cgroup
                # is the file bound over /proc/$$/cgroup.
                proc = subprocess.run(
                    ["sh", "-c", 'mount --bind "$0" /proc/$$/cgroup && exec "$@"', fake,
                     EDGEFETCH, "--json", "-q", "-o", ws.out, "ftp://127.0.0.1/x.jpg"],
                    capture_output=True, timeout=60)
            finally:
                subprocess.run(["umount", "/sys/fs/cgroup"], check=True)
            err = proc.stderr.decode(errors="replace")
            check(proc.returncode == 1, f"{self_cgroup!r}: exit {proc.returncode}: {err}")
            budget = ndjson(proc.stdout.decode())[-1]["memory_budget_bytes"]
            want = min(min(ram, limit) // 2, 4 * GIB)
            print(f"{self_cgroup.split()[0]}: budget {budget / GIB:.2f} GiB, want {want / GIB:.2f}")
            check(budget == want, f"{self_cgroup!r}, {files}: budget {budget}, want {want} "
                  f"(half of {min(ram, limit)})")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
