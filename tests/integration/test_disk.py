#!/usr/bin/env python3
"""The output folder and the disk: a missing folder is created, a read-only or
unwritable one is refused before any download, a full disk fails that item
alone and keeps the old output (tmpfs mounts: root, else SKIP).

Run one case: test_disk.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FAST_RETRY, FIXTURE, PHOTOS, Fixture, Skip, Workspace, check,  # noqa: E402
                     expect_failed, main_for, read, run, run_timed)
from pngutil import make_png  # noqa: E402


def test_output_dir_not_writable():
    """An output path that cannot be a folder stops the run before any download."""
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        blocker = os.path.join(ws.tmp, "file")
        with open(blocker, "w") as f:
            f.write("x")
        rc, _, err = run(["-o", blocker, server.url(PHOTOS[0])])
        check(rc == 2, f"exit {rc}: {err}")
        check(server.stats()["requests"] == 0, "downloaded although the output is unusable")


def _mount(args):
    proc = subprocess.run(["mount"] + args, capture_output=True)
    if proc.returncode != 0:
        raise Skip(f"mount {' '.join(args)} failed (needs root): {proc.stderr.decode().strip()}")


def _umount(path):
    subprocess.run(["umount", path], capture_output=True)


def test_output_dir_missing():
    """A missing output folder (and its parents) is created."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        out = os.path.join(ws.tmp, "out", "deep", "er")
        rc, _, err, _ = run_timed(["-o", out, server.url("p.jpg")])
        check(rc == 0, f"exit {rc}: {err}")
        ws.check_tree(["deep/er/p.png"])


def test_output_dir_readonly():
    """A read-only output folder (a read-only bind mount: root ignores modes)
    stops the run with exit 2 before any download."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        os.makedirs(ws.out)
        _mount(["--bind", ws.out, ws.out])
        try:
            _mount(["-o", "remount,ro,bind", ws.out])
            rc, _, err, _ = run_timed(["-o", ws.out, server.url("p.jpg")])
            check(rc == 2, f"exit {rc}, want 2: {err}")
            check(ws.out in err and "read-only" in err.lower(), f"message: {err}")
            check(server.stats()["requests"] == 0, "downloaded although the output is read-only")
        finally:
            _umount(ws.out)
        ws.check_tree([])


def test_disk_full():
    """A full disk fails the item that does not fit, removes its temporary file,
    and the others go on."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        for name in PHOTOS[:2]:
            ws.photo(name, name)
        tiny = [f"t{i}.png" for i in range(3)]
        for name in tiny:
            ws.write(name, make_png(8, 8, 8, 0, [[(x * 16 + y,) for x in range(8)] for y in range(8)]))
        os.makedirs(ws.out)
        _mount(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", ws.out])
        try:
            names = PHOTOS[:2] + tiny
            lst = ws.list_file([server.url(n) for n in names])
            rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "-w", "2"] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            for i, name in enumerate(PHOTOS[:2]):
                expect_failed(err, server.url(name), i + 1, "write", "No space left")
            ws.check_tree(tiny)
        finally:
            _umount(ws.out)


def test_disk_full_keeps_old_output():
    """--force over an existing output on a full disk: the new output does not
    fit, the item fails, and the old file is still there byte for byte (the
    write goes to a temporary file and only a complete one is renamed over)."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        name = PHOTOS[0]
        ws.photo(name, name)
        os.makedirs(ws.out)
        _mount(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", ws.out])
        try:
            old = make_png(8, 8, 8, 0, [[(x * 16 + y,) for x in range(8)] for y in range(8)])
            final = name[:-4] + ".png"
            with open(os.path.join(ws.out, final), "wb") as f:
                f.write(old)
            url = server.url(name)
            rc, _, err, _ = run_timed(["-i", ws.list_file([url]), "-o", ws.out, "--force"] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            expect_failed(err, url, 1, "write", "No space left")
            check(os.path.exists(os.path.join(ws.out, final)),
                  f"the old {final} is gone after a failed rewrite")
            check(read(os.path.join(ws.out, final)) == old,
                  f"the old {final} was changed by a failed rewrite")
            ws.check_tree([final])
        finally:
            _umount(ws.out)


if __name__ == "__main__":
    sys.exit(main_for(globals()))
