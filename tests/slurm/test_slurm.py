#!/usr/bin/env python3
"""A real single-node Slurm cluster runs samples/slurm/edgefetch-array.sbatch
over the fixture server; the merged result must equal a single run.

The test configures and starts munged, slurmctld and slurmd itself (private
config, sockets, ports and state in a temporary folder; stopped at the end).
It needs root (slurmd launches jobs as their user) and Debian's slurm-wlm and
munge; otherwise it is skipped (exit 77) and says why.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Failure, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, free_port, read, tree)
ROOT = os.path.dirname(os.path.dirname(HERE))

SKIP = 77
SBATCH = os.path.join(ROOT, "samples", "slurm", "edgefetch-array.sbatch")
MERGE = os.path.join(ROOT, "samples", "slurm", "merge-summaries.py")


def skip_reason():
    if os.geteuid() != 0:
        return "needs root to start slurmd (run make test as root, or see tests/slurm)"
    missing = [b for b in ("munged", "munge", "slurmctld", "slurmd", "sbatch", "sinfo")
               if shutil.which(b) is None and not os.path.exists("/usr/sbin/" + b)]
    if missing:
        return "missing " + ", ".join(missing) + " (apt-get install slurm-wlm munge)"
    return None


def which(name):
    return shutil.which(name) or "/usr/sbin/" + name


class Cluster:
    def __init__(self, tmp, cpus):
        self.dir = tmp
        self.cpus = cpus
        self.procs = []
        self.env = None

    def start(self):
        d = self.dir
        for sub in ("etc", "log", "state", "spool", "run"):
            os.makedirs(os.path.join(d, sub), mode=0o700)
        key = os.path.join(d, "etc", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        sock = os.path.join(d, "run", "munge.sock")
        subprocess.run([which("munged"), "-f", "-S", sock, "--key-file", key,
                        "--log-file", os.path.join(d, "log", "munged.log"),
                        "--pid-file", os.path.join(d, "run", "munged.pid"),
                        "--seed-file", os.path.join(d, "state", "munged.seed")], check=True)
        host = socket.gethostname()
        conf = os.path.join(d, "etc", "slurm.conf")
        with open(conf, "w") as f:
            f.write(f"""ClusterName=edgefetchtest
SlurmctldHost={host}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName={host} CPUs={self.cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        self.env = dict(os.environ, SLURM_CONF=conf)
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D"]):
            log = open(os.path.join(d, "log", daemon[0] + ".out"), "wb")
            self.procs.append(subprocess.Popen([which(daemon[0])] + daemon[1:], env=self.env,
                                               stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True,
                                 text=True)
            if out.returncode == 0 and out.stdout.strip() == "idle":
                return self
            time.sleep(0.5)
        raise Failure(f"cluster did not come up: {self.logs()}")

    def logs(self):
        text = ""
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"):
            path = os.path.join(self.dir, "log", name)
            if os.path.exists(path):
                text += f"--- {name}\n" + open(path, errors="replace").read()[-2000:]
        return text

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        subprocess.run([which("munged"), "-S", os.path.join(self.dir, "run", "munge.sock"), "-s"],
                       capture_output=True)


def test_array():
    """Two arrays on one cluster: the sample as it is (readable names), then
    with EDGEFETCH_LAYOUT=positional (names by list line, each task keeping
    only its shard's rows); each against a single run of its layout."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="50") as server:
        cluster = Cluster(os.path.join(ws.tmp, "slurm"), os.cpu_count() or 1)
        try:
            cluster.start()
            for layout in ("readable", "positional"):
                array_matches_single(ws, server, cluster, layout)
        except (Failure, subprocess.TimeoutExpired) as e:
            # Whatever failed, the daemons' logs go with it: a failure seen
            # once under load left no cause to read.
            if "--- slurmctld" in str(e):
                raise
            raise Failure(f"{e}\n{cluster.logs()}") from e
        finally:
            cluster.stop()


def array_matches_single(ws, server, cluster, layout):
    shards = 3
    urls = [server.url(n) for n in PHOTOS] + [server.url("missing.jpg")]
    lst = ws.list_file(urls)
    single = os.path.join(ws.tmp, f"single-{layout}")
    proc = subprocess.run([EDGEFETCH, "-q", "--json", "--layout", layout, "-i", lst, "-o",
                           single], capture_output=True, text=True, timeout=120)
    check_clean_exit(proc.stderr, "edgefetch")
    check(proc.returncode == 1, f"single run: {proc.returncode} {proc.stderr}")
    single_items = [json.loads(x) for x in proc.stdout.splitlines()][:-1]
    server.reset()
    out = os.path.join(ws.tmp, f"edges-{layout}")
    results = os.path.join(ws.tmp, f"results-{layout}")
    env = dict(cluster.env, EDGEFETCH=EDGEFETCH, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
               EDGEFETCH_LAYOUT=layout)
    sub = subprocess.run(["sbatch", "--wait", "--parsable", f"--array=0-{shards - 1}",
                          "--cpus-per-task=1", f"--chdir={ws.tmp}",
                          f"--output={ws.tmp}/slurm-%A_%a.log", SBATCH, lst, out, results],
                         env=env, capture_output=True, text=True, timeout=300)
    # The array exits 1: the missing URL fails in its shard.
    check(os.path.isdir(results), f"{layout}: sbatch: {sub.returncode} {sub.stderr}\n"
                                  f"{cluster.logs()}")
    files = sorted(os.path.join(results, n) for n in os.listdir(results))
    check(len(files) == shards, f"results {files}")
    merged_items = os.path.join(ws.tmp, f"items-{layout}.ndjson")
    merge = subprocess.run([sys.executable, MERGE, *files, "--items", merged_items],
                           capture_output=True, text=True)
    summary = json.loads(merge.stdout)
    check(merge.returncode == 1 and summary["complete"] and summary["failed"] == 1,
          f"{layout}: merge: {merge.returncode} {summary} {merge.stderr}")
    check(summary["shards_seen"] == list(range(shards)), f"shards {summary}")
    check(summary["items"] == len(urls) and summary["ok"] == len(PHOTOS), f"{summary}")
    items = [json.loads(x) for x in open(merged_items)]
    check(sorted(i["url"] for i in items) == sorted(urls), "each item once")

    def key(item):
        """The output as a name inside its -o (FOLDER/LINE.png when positional)."""
        output = item["output"]
        if output is None:
            return (item["url"], item["status"], None)
        top = out if output.startswith(out + "/") else single
        return (item["url"], item["status"], os.path.relpath(output, top))

    check(sorted(map(key, items)) == sorted(map(key, single_items)), f"{layout}: results differ")
    check(tree(out) == tree(single), f"{layout}: trees {tree(out)} != {tree(single)}")
    if layout == "positional":
        check(all("/" in name for name in tree(out)), f"not positional: {tree(out)}")
    for name in tree(single):
        check(read(os.path.join(out, name)) == read(os.path.join(single, name)), name)
    check(server.stats()["requests"] == len(urls), f"{layout}: an item fetched twice")


def main():
    reason = skip_reason()
    if reason:
        print(f"SKIP slurm: {reason}")
        return SKIP
    for var in ("EDGEFETCH", "FIXTURE", "SAMPLES"):
        if not os.environ.get(var):
            print(f"{var} is not set", file=sys.stderr)
            return 2
    try:
        test_array()
    except Failure as e:
        print(f"FAIL slurm: {e}", file=sys.stderr)
        return 1
    print("ok slurm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
