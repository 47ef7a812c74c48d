"""A synthetic internet of many hosts for the tests and the benchmark (issue 11).

A test builds its own world, inside a network namespace it creates, so no packet
and no DNS query can leave the machine:

    if not world.in_namespace():
        sys.exit(world.reenter())          # unshare -n -m, this script again
    with world.World() as w:
        good = w.add("good", 40, latency_ms=(20, 80), bandwidth=2_000_000)
        dead = w.add("dead", 3)
        w.start()
        urls = w.urls(good, 5) + w.urls(dead, 5)
        result = w.run_edgefetch(urls, ["-j", "16"])
        traffic = w.traffic()              # the servers' logs, parsed

What a started world holds:
- names: dnsmasq (Debian's dnsmasq-base) on 127.0.0.53:53 answering for every
  host plus filler names (>= 1,000 under .test), NXDOMAIN for other .test names;
  /etc/resolv.conf, /etc/hosts and /etc/nsswitch.conf of the namespace are
  bind-mounted over with generated ones (mount namespace of its own) so glibc's
  getaddrinfo asks dnsmasq and nothing short-circuits it. dnsmasq logs every
  query; dns_queries() counts them.
- hosts on their own addresses 127.10.X.Y (the loopback range; every 127/8
  address is local once `lo` is up):
    good/slow/...: plain HTTP/1.1 on port 80, served by hosts_server.py (one
      asyncio process for all), each with a profile: latency to first byte,
      bandwidth per connection, connection limit, keep-alive, a status instead
      of the file (429/503 with Retry-After, 404) for the first N requests of
      each path, reset mid-body;
    kind "https": HTTPS with HTTP/2 on port 443, one nginx (Debian nginx-light)
      for all, with a certificate made at start (certs.py);
    kind "dead": SYNs dropped by an nftables rule (the connect times out);
    kind "refuse": SYNs answered with a TCP RST by an nftables rule;
    kind "nxdomain": no DNS record at all;
    kind "silent_dns": dnsmasq forwards its name to SILENT_DNS_ADDR, whose
      queries an nftables rule drops: its lookups time out (glibc gives up
      after resolv.conf's timeout:1 attempts:2, about 2 s).
  Each nftables rule counts the SYNs it dropped or refused.
- logs: every connection and request of the plain hosts with CLOCK_MONOTONIC
  times (hosts_server.py), nginx's access log with the connection serial and
  the request's time, the nft counters: traffic() gives per-host figures.
- images: the sample photos re-encoded at small sizes as JPEG and PNG (djpeg,
  cjpeg from libjpeg-turbo-progs; PNG written here), cached in $WORLD_CACHE
  (meson's build dir) so each test does not redo them.

Every server stops with the world (stop(), or the with-block), by itself after
`lifetime` seconds, and with the test process (PR_SET_PDEATHSIG); the
namespace goes when its last process does. The world's files live in one
temporary folder, removed at stop.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, HERE)
from certs import make_certs  # noqa: E402
from images import FULL_SIZE_PREFIX, full_size_cache, make_images  # noqa: E402,F401
from traffic import HostTraffic, Traffic, max_overlap  # noqa: E402,F401
from harness import Failure, Skip, check, main_for, nginx_conf  # noqa: E402,F401

# By-hand runs need only EDGEFETCH; meson sets SAMPLES too.
os.environ.setdefault("SAMPLES", os.path.join(os.path.dirname(TESTS), "samples", "photos"))
NS_ENV = "EDGEFETCH_WORLD_NS"
DNS_ADDR = "127.0.0.53"
# The upstream DNS server of the "silent_dns" names: nothing answers there
# (an nft rule drops what dnsmasq forwards to it, and counts it).
SILENT_DNS_ADDR = "127.0.0.99"
# Names the DNS server answers for at least: the hosts of the world plus
# filler names (pointing at unused addresses) up to this count.
MIN_DNS_NAMES = 1000

PR_SET_PDEATHSIG = 1


def _die_with_parent(sig=signal.SIGTERM):
    """preexec_fn: the child gets `sig` when the process that started it dies."""
    def set_it():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    return set_it


# ---- the namespace -----------------------------------------------------------------------

def in_namespace():
    return os.environ.get(NS_ENV) == "1"


def reenter(argv=None, timeout=600):
    """Runs this script again (same arguments) in a new network and mount
    namespace; returns its exit status. Exit 77 (meson's SKIP) with the reason
    when this machine cannot make one (no root, no unshare)."""
    argv = list(sys.argv if argv is None else argv)
    for tool in ("unshare", "ip", "nft", "dnsmasq"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"SKIP: needs {tool} (util-linux, iproute2, nftables, dnsmasq-base: "
                  "make test-deps installs them)")
            return 77
    probe = subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        print(f"SKIP: cannot create a network namespace: {probe.stderr.decode().strip()}")
        return 77
    env = dict(os.environ)
    env[NS_ENV] = "1"
    # Nothing in the world may go through a proxy (there is no way out anyway).
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(var, None)
    proc = subprocess.Popen(["unshare", "-n", "-m", "--propagation", "private",
                             sys.executable, os.path.abspath(argv[0])] + argv[1:],
                            env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent())
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        print(f"the namespaced run did not finish in {timeout} s", file=sys.stderr)
        return 1
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def run_case(namespace):
    """main() of a world test file: re-enters a namespace, then runs the case."""
    if not in_namespace():
        if len(sys.argv) != 2:
            return main_for(namespace, required=("EDGEFETCH", "SAMPLES"))  # prints usage
        if os.geteuid() != 0:
            print("SKIP: the test world needs root for its network namespace")
            return 77
        return reenter()
    return main_for(namespace, required=("EDGEFETCH", "SAMPLES"))


# ---- hosts -------------------------------------------------------------------------------

class Host:
    """One host of the world and its profile (see hosts_server.py for the fields)."""

    def __init__(self, name, addr, kind, index, **profile):
        self.name, self.addr, self.kind, self.index = name, addr, kind, index
        self.profile = profile

    @property
    def scheme(self):
        return "https" if self.kind == "https" else "http"

    def spec(self):
        spec = {"name": self.name, "addr": self.addr, "port": 80}
        spec.update(self.profile)
        return spec

    def __repr__(self):
        return f"Host({self.name} {self.addr} {self.kind} {self.profile})"


SERVED_KINDS = ("http", "https")


def _exit_on_sigterm(signum, frame):
    # SIGTERM (from reenter's parent dying, or meson's timeout) unwinds the
    # stack like an exception, so the world's with-block still cleans up.
    raise SystemExit(128 + signum)


class World:
    def __init__(self, lifetime=240, cache=None):
        check(in_namespace(), "World() outside its network namespace: call reenter() first")
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self.lifetime = lifetime
        # Absolute: nginx reads a relative root against its own prefix.
        cache = cache or os.environ.get("WORLD_CACHE")
        self.cache = os.path.abspath(cache) if cache else None
        self.hosts = []
        self.procs = []
        self.mounts = []
        self.tmp = None
        self.start_time = None
        self._url_serial = 0
        self.cacert = None  # the CA of the HTTPS hosts, once started

    # -- building --

    def add(self, kind, count, **profile):
        """Adds `count` hosts. kind: "http" (plain HTTP/1.1 with `profile`),
        "https" (nginx, HTTP/2; profile: bandwidth), "dead", "refuse",
        "nxdomain", "silent_dns". Returns them."""
        check(kind in SERVED_KINDS + ("dead", "refuse", "nxdomain", "silent_dns"),
              f"unknown kind {kind}")
        label = profile.pop("label", kind)
        added = []
        for _ in range(count):
            index = len(self.hosts)
            addr = f"127.10.{index // 250}.{index % 250 + 1}"
            host = Host(f"{label}-{index:04d}.test", addr, kind, index, **profile)
            self.hosts.append(host)
            added.append(host)
        return added

    def urls(self, hosts, per_host, ext=None, prefix=""):
        """`per_host` URLs on each of `hosts`, interleaved host by host (as a
        list sorted by nothing in particular would be), each path unique so
        output names never collide; bodies cycle through the images (JPEG and
        PNG unless `ext` says which; those named `prefix`... only)."""
        names = [n for n in self.image_names
                 if (ext is None or n.endswith("." + ext)) and n.startswith(prefix)]
        out = []
        for k in range(per_host):
            for host in hosts:
                self._url_serial += 1
                image = names[self._url_serial % len(names)]
                out.append(f"{host.scheme}://{host.name}/u{self._url_serial:05d}_{image}")
        return out

    # -- starting and stopping --

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="edgefetch-world-")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        check(all(name == "lo" for _, name in socket.if_nameindex()),
              f"namespace has other interfaces: {socket.if_nameindex()}")
        cache = self.cache or os.path.join(self.tmp, "cache")
        self.image_dir, self.image_names = make_images(cache)
        self._start_dns()
        self._point_resolver()
        self._start_firewall()
        self._start_http()
        if any(h.kind == "https" for h in self.hosts):
            self._start_nginx()
        self._check_resolution()
        self.start_time = time.monotonic()

    def _spawn(self, args, name, **kw):
        """A server of the world: dies with us (SIGTERM), and by itself after
        the world's lifetime (coreutils timeout, which passes SIGTERM on)."""
        log = open(os.path.join(self.tmp, f"{name}.stderr"), "wb")
        proc = subprocess.Popen(["timeout", "-k", "5", str(self.lifetime)] + args,
                                stdin=subprocess.DEVNULL, stderr=log,
                                preexec_fn=_die_with_parent(), **kw)
        log.close()
        self.procs.append((name, proc))
        return proc

    def cpu_seconds(self):
        """CPU time (user + system) the world's servers have used so far: every
        live process under each server (nginx's workers, the timeout wrapper)
        plus what their reaped children used. A benchmark on one machine
        shares its cores with these servers, so a run's CPU floor is the
        client's CPU and theirs over the cores."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        todo = [proc.pid for _, proc in self.procs if proc.poll() is None]
        seen = set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                # Fields 14-17 of stat(5), counted from the state (field 3).
                total += sum(int(x) for x in fields[11:15])
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo += [int(c) for c in f.read().split()]
            except (OSError, ValueError, IndexError):
                continue  # it exited meanwhile
        return total / tick

    def _stderr_of(self, name):
        with open(os.path.join(self.tmp, f"{name}.stderr"), "rb") as f:
            return f.read().decode(errors="replace")

    def _start_dns(self):
        hosts_file = self.dns_hosts_file = os.path.join(self.tmp, "dns-hosts")
        with open(hosts_file, "w") as f:
            names = 0
            for host in self.hosts:
                if host.kind not in ("nxdomain", "silent_dns"):
                    f.write(f"{host.addr} {host.name}\n")
                    names += 1
            # Filler names (addresses nobody listens on) so the server holds a
            # realistic table; the tests never ask for them.
            for i in range(max(0, MIN_DNS_NAMES - names)):
                f.write(f"127.11.{i // 250}.{i % 250 + 1} idle-{i:04d}.test\n")
        self.dns_log = os.path.join(self.tmp, "dns.log")
        self._spawn(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                     "--no-hosts", f"--addn-hosts={hosts_file}", f"--listen-address={DNS_ADDR}",
                     "--bind-interfaces", "--port=53", "--local=/test/", "--domain-needed",
                     "--log-queries", f"--log-facility={self.dns_log}", "--pid-file=",
                     "--user=root", "--group=root", "--cache-size=1000", "--local-ttl=60"]
                    + [f"--server=/{h.name}/{SILENT_DNS_ADDR}" for h in self.hosts
                       if h.kind == "silent_dns"],
                    "dnsmasq")
        deadline = time.monotonic() + 10
        query = _dns_query("idle-0000.test")
        while True:
            self._check_alive()
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(0.2)
                    s.sendto(query, (DNS_ADDR, 53))
                    s.recv(512)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise Failure("dnsmasq did not answer:\n" + self._stderr_of("dnsmasq"))

    def _point_resolver(self):
        """Our own resolv.conf, hosts and nsswitch.conf in this mount namespace:
        glibc asks dnsmasq for every name but localhost."""
        files = {
            "/etc/resolv.conf": f"nameserver {DNS_ADDR}\noptions timeout:1 attempts:2\n",
            "/etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
            "/etc/nsswitch.conf": "hosts: files dns\n",
        }
        for target, text in files.items():
            if not os.path.exists(target):
                # Without /etc/hosts or nsswitch.conf glibc still asks DNS;
                # without resolv.conf it would ask 127.0.0.1, not dnsmasq.
                check(target != "/etc/resolv.conf", "no /etc/resolv.conf to mount over "
                      "(a dangling symlink?): the world cannot point the resolver at dnsmasq")
                continue
            source = os.path.join(self.tmp, os.path.basename(target))
            with open(source, "w") as f:
                f.write(text)
            subprocess.run(["mount", "--bind", source, target], check=True)
            self.mounts.append(target)
        # A host's nscd would answer from outside the namespace: hide its socket.
        for nscd in ("/var/run/nscd", "/run/nscd"):
            if os.path.isdir(nscd) and nscd not in self.mounts:
                subprocess.run(["mount", "-t", "tmpfs", "none", nscd], check=True)
                self.mounts.append(nscd)

    def _start_firewall(self):
        rules = []
        for host in self.hosts:
            verdict = {"dead": "drop", "refuse": "reject with tcp reset"}.get(host.kind)
            if verdict:
                rules.append(f'        ip daddr {host.addr} tcp flags & (syn | ack) == syn counter '
                             f'{verdict} comment "{host.name}"')
        if any(h.kind == "silent_dns" for h in self.hosts):
            rules.append(f'        ip daddr {SILENT_DNS_ADDR} udp dport 53 counter drop '
                         f'comment "silent-dns"')
        ruleset = ("table inet world {\n    chain input {\n"
                   "        type filter hook input priority 0; policy accept;\n"
                   + "\n".join(rules) + "\n    }\n}\n")
        path = os.path.join(self.tmp, "world.nft")
        with open(path, "w") as f:
            f.write(ruleset)
        proc = subprocess.run(["nft", "-f", path], capture_output=True)
        check(proc.returncode == 0, f"nft -f: {proc.stderr.decode()}")

    def _start_http(self):
        served = [h for h in self.hosts if h.kind == "http"]
        self.http_log = os.path.join(self.tmp, "http.log")
        config = {"images": self.image_dir, "log": self.http_log, "lifetime": self.lifetime,
                  "hosts": [h.spec() for h in served]}
        path = os.path.join(self.tmp, "http.json")
        with open(path, "w") as f:
            json.dump(config, f)
        proc = self._spawn([sys.executable, os.path.join(HERE, "hosts_server.py"), path], "http",
                           stdout=subprocess.PIPE)
        line = proc.stdout.readline()
        if line.strip() != b"ready":
            raise Failure("hosts_server.py did not start:\n" + self._stderr_of("http"))

    def _start_nginx(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            raise Skip("needs nginx (Debian nginx-light): make test-deps installs it")
        tls = os.path.join(self.tmp, "nginx")
        os.makedirs(tls, exist_ok=True)
        https = [h for h in self.hosts if h.kind == "https"]
        make_certs(tls, dns_names=[h.name for h in https], ips=(), common_name=https[0].name)
        self.cacert = os.path.join(tls, "ca.pem")
        self.nginx_log = os.path.join(tls, "access.log")
        servers = []
        for host in https:
            rate = host.profile.get("bandwidth", 0)
            servers.append(f"""    server {{
        listen {host.addr}:443 ssl http2;
        server_name {host.name};
        ssl_certificate {tls}/server.pem;
        ssl_certificate_key {tls}/server.key;
        root {self.image_dir};
        location / {{ rewrite ^/[^/]*_([^/_]+)$ /$1 break; {f'limit_rate {rate};' if rate else ''} }}
    }}""")
        conf = nginx_conf(tls, f"""    log_format world '$msec $server_name $connection $connection_requests $server_protocol $status $body_bytes_sent $request_uri';
    access_log {self.nginx_log} world;
    types {{ image/jpeg jpg; image/png png; }}
    keepalive_timeout 30s;
{chr(10).join(servers)}""", error_level="warn", worker_connections=4096)
        path = os.path.join(tls, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self._spawn([nginx, "-e", os.path.join(tls, "error.log"), "-p", tls, "-c", path], "nginx",
                    stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            self._check_alive()
            try:
                socket.create_connection((https[-1].addr, 443), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failure("nginx did not start listening:\n" + self._stderr_of("nginx"))
                time.sleep(0.05)

    def _check_alive(self):
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise Failure(f"{name} exited with {proc.returncode}:\n" + self._stderr_of(name))

    def _check_resolution(self):
        """glibc resolves through dnsmasq: a world name to its address, an
        unknown .test name to NXDOMAIN, and dnsmasq logged both queries."""
        known = next((h for h in self.hosts if h.kind not in ("nxdomain", "silent_dns")), None)
        if known is not None:
            got = {a[4][0] for a in socket.getaddrinfo(known.name, 80, socket.AF_INET)}
            check(got == {known.addr}, f"{known.name} resolved to {got}, want {known.addr}")
        try:
            socket.getaddrinfo("no-such-name.test", 80)
            raise Failure("no-such-name.test resolved")
        except socket.gaierror as e:
            check(e.errno == socket.EAI_NONAME, f"no-such-name.test: {e}")
        deadline = time.monotonic() + 5
        while not self.dns_queries().get("no-such-name.test"):
            check(time.monotonic() < deadline, "dnsmasq did not log the resolver's queries")
            time.sleep(0.05)

    def stop(self):
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs = []
        if self.mounts:
            subprocess.run(["nft", "delete", "table", "inet", "world"], capture_output=True)
        for target in reversed(self.mounts):
            subprocess.run(["umount", target], capture_output=True)
        self.mounts = []
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def reset_faults(self):
        """Every plain host's per-path counts start again (fail_times), so a
        second run on this world meets the faults the first one met."""
        import http.client
        host = next((h for h in self.hosts if h.kind == "http"), None)
        if host is not None:
            conn = http.client.HTTPConnection(host.addr, 80, timeout=5)
            try:
                conn.request("GET", "/__reset")
                check(conn.getresponse().status == 204, "/__reset refused")
            finally:
                conn.close()

    # -- observing --

    def set_dns(self, host, present):
        """Takes `host`'s record out of the DNS server's table (its name is then
        NXDOMAIN), or puts it back: dns-hosts is written again and dnsmasq
        reads it (SIGHUP, which also clears its cache). Returns once glibc
        sees the change, with the number of A queries it took to see it
        (dns_queries() counts them with the others)."""
        with open(self.dns_hosts_file) as f:
            lines = [line for line in f if line.split()[1] != host.name]
        if present:
            lines.insert(0, f"{host.addr} {host.name}\n")
        with open(self.dns_hosts_file, "w") as f:
            f.writelines(lines)
        # dnsmasq runs under coreutils timeout: signal the child, not timeout.
        proc = dict(self.procs)["dnsmasq"]
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            for pid in f.read().split():
                os.kill(int(pid), signal.SIGHUP)
        deadline = time.monotonic() + 5
        asked = 0
        while True:
            asked += 1
            try:
                socket.getaddrinfo(host.name, 80, socket.AF_INET)
                resolves = True
            except socket.gaierror:
                resolves = False
            if resolves == present:
                return asked
            check(time.monotonic() < deadline, f"dnsmasq did not reload: {host.name} "
                  f"{'still NXDOMAIN' if present else 'still resolves'}")
            time.sleep(0.05)

    def dns_queries(self):
        """{name: queries dnsmasq logged for it} (A and AAAA alike)."""
        counts = {}
        try:
            with open(self.dns_log, errors="replace") as f:
                for line in f:
                    m = re.search(r"query\[[A-Z0-9]+\] (\S+) from", line)
                    if m:
                        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        except FileNotFoundError:
            pass
        return counts

    def syn_counters(self):
        """{host name: SYNs its nft rule dropped or refused}."""
        proc = subprocess.run(["nft", "-j", "list", "table", "inet", "world"],
                              capture_output=True, check=True)
        counts = {}
        for entry in json.loads(proc.stdout)["nftables"]:
            rule = entry.get("rule")
            if rule and "comment" in rule:  # "silent-dns": queries dropped
                for expr in rule["expr"]:
                    if "counter" in expr:
                        counts[rule["comment"]] = expr["counter"]["packets"]
        return counts

    def traffic(self, settle=2.0, since=None):
        """The servers' logs as per-host figures (events from `since`, a
        time.monotonic() value, on). Waits up to `settle` s for connections
        the client closed to be logged as closed."""
        deadline = time.monotonic() + settle
        while True:
            traffic = Traffic(self, since)
            if traffic.all_closed() or time.monotonic() > deadline:
                return traffic
            time.sleep(0.05)

    # -- running edgefetch --

    def run_edgefetch(self, urls, args=(), timeout=120, binary=None, out=None):
        """Runs edgefetch on `urls` (a list file) with --json into `out` (a
        fresh output folder by default); returns a Run."""
        binary = binary or os.environ["EDGEFETCH"]
        work = tempfile.mkdtemp(prefix="run-", dir=self.tmp)
        lst = os.path.join(work, "urls.txt")
        with open(lst, "w") as f:
            f.write("\n".join(urls) + "\n")
        out = out or os.path.join(work, "out")
        extra = ["--cacert", self.cacert] if self.cacert else []
        cmd = [binary, "--json", "-i", lst, "-o", out] + extra + list(args)
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        end = time.monotonic()
        return Run(cmd, proc, start, end, work, out, urls)

    def run_edgefetch_streaming(self, urls, args=(), on_line=None, timeout=120):
        """run_edgefetch, reading stdout as it comes: `on_line` is called with
        each line (bytes, the --json items among them) while edgefetch runs,
        so a test can change the world mid-run. Killed after `timeout` s."""
        binary = os.environ["EDGEFETCH"]
        work = tempfile.mkdtemp(prefix="streaming-", dir=self.tmp)
        lst = os.path.join(work, "urls.txt")
        with open(lst, "w") as f:
            f.write("\n".join(urls) + "\n")
        out = os.path.join(work, "out")
        extra = ["--cacert", self.cacert] if self.cacert else []
        cmd = [binary, "--json", "-i", lst, "-o", out] + extra + list(args)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        err = []
        # stderr drained apart, so a chatty run cannot block on a full pipe.
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()))
        reader.start()
        lines = []
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                if on_line is not None:
                    on_line(line)
            proc.wait()
        finally:
            timer.cancel()
            reader.join()
        result = types.SimpleNamespace(returncode=proc.returncode, stdout=b"".join(lines),
                                       stderr=err[0] if err else b"")
        return Run(cmd, result, start, time.monotonic(), work, out, urls)


def _dns_query(name):
    header = struct.pack(">HHHHHH", 0x1111, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return header + qname + struct.pack(">HH", 1, 1)


class Run:
    """One edgefetch run: exit code, its --json items and summary, stderr, times."""

    def __init__(self, cmd, proc, start, end, work, out, urls):
        self.cmd, self.rc, self.start, self.end = cmd, proc.returncode, start, end
        self.wall = end - start
        self.work, self.out, self.urls = work, out, urls
        self.stderr = proc.stderr.decode(errors="replace")
        self.items, self.summary, self.garbage = [], None, []
        for line in proc.stdout.decode(errors="replace").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                self.garbage.append(line)
                continue
            if obj.get("type") == "item":
                self.items.append(obj)
            elif obj.get("type") == "summary":
                self.summary = obj
            else:
                self.garbage.append(line)

    def by_url(self):
        return {item["url"]: item for item in self.items}

    def describe(self):
        return f"{' '.join(self.cmd[:1] + self.cmd[6:])}: exit {self.rc} in {self.wall:.2f} s"

    def check_each_item_once(self):
        """Every URL has exactly one item line, no other line, one summary that adds up."""
        check(not self.garbage, f"non-JSON lines on stdout: {self.garbage[:3]}")
        urls = [item["url"] for item in self.items]
        check(len(urls) == len(set(urls)), f"items reported twice: "
              f"{sorted(u for u in set(urls) if urls.count(u) > 1)[:5]}")
        missing = set(self.urls) - set(urls)
        check(not missing, f"{len(missing)} URLs with no item line, e.g. {sorted(missing)[:3]}")
        extra = set(urls) - set(self.urls)
        check(not extra, f"items for URLs not listed: {sorted(extra)[:3]}")
        s = self.summary
        check(s is not None, "no summary line")
        check(s["items"] == len(self.urls) == s["ok"] + s["failed"] + s["skipped"] + s["cancelled"],
              f"summary does not add up for {len(self.urls)} URLs: {s}")

    def check_outputs(self):
        """Exactly one whole PNG per ok item in the output folder, nothing else
        (no temporary files), and the exit code matches the failures."""
        ok = [item for item in self.items if item["status"] == "ok"]
        want = sorted(os.path.basename(item["output"]) for item in ok)
        got = sorted(os.listdir(self.out)) if os.path.isdir(self.out) else []
        check(got == want, f"output folder holds {len(got)} files, {len(want)} ok items; "
              f"extra {sorted(set(got) - set(want))[:5]}, missing {sorted(set(want) - set(got))[:5]}")
        for name in got:
            with open(os.path.join(self.out, name), "rb") as f:
                data = f.read()
            check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND", f"{name} not a whole PNG")
        failed = sum(item["status"] == "failed" for item in self.items)
        check(self.rc == (1 if failed else 0), f"exit {self.rc} with {failed} failed items")
        check(self.summary["fds_leaked"] in (0, None), f"fds leaked: {self.summary['fds_leaked']}")
        check("event loop not closed cleanly" not in self.stderr, self.stderr)


# ---- scenes and checks shared by the world's tests (tests import them from
# here, never from one another) ----------------------------------------------

# The adaptive download cap's start without -j (pipeline/options.c).
ADAPTIVE_START = 32

# Retries stay on but short, so transient faults cost little.
FAST_RETRY = ["--retry-delay", "0.05"]


def good_hosts(w, count, **profile):
    """Friendly hosts with a spread of latency and bandwidth."""
    profile.setdefault("latency_ms", (10, 60))
    profile.setdefault("bandwidth", 2_000_000)
    return w.add("http", count, **profile)


def items_of_hosts(run, hosts):
    names = {h.name for h in hosts}
    return [item for item in run.items if item["url"].split("/")[2] in names]


def all_ok(run, hosts):
    bad = [(i["url"], i["error"]) for i in items_of_hosts(run, hosts) if i["status"] != "ok"]
    check(not bad, f"{len(bad)} items of good hosts not ok, e.g. {bad[:3]}")


def no_leftovers(w):
    """After stop(): no process of ours in this network namespace, no nft table,
    no bind mount over /etc, no world folder."""
    tmp = w.tmp
    w.stop()
    check(tmp is None or not os.path.exists(tmp), f"world folder {tmp} left behind")
    me = os.readlink("/proc/self/ns/net")
    others = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if os.readlink(f"/proc/{pid}/ns/net") == me:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        others.append((pid, f.read().replace(b"\0", b" ")[:80]))
            except OSError:
                pass
    check(not others, f"processes left in the world's namespace: {others}")
    with open("/proc/self/mounts") as f:
        mounts = [line for line in f if " /etc/" in line]
    check(not mounts, f"mounts left: {mounts}")
    rc = os.system("nft list table inet world >/dev/null 2>&1")
    check(rc != 0, "nft table 'world' left")


def latency_world(w):
    hosts = w.add("http", 100, latency_ms=(400, 500), bandwidth=1_000_000, keepalive=False)
    w.start()
    return hosts, w.urls(hosts, 4, ext="jpg")


def checked_run(run):
    """Each item reported once, the outputs as reported, exit 0."""
    run.check_each_item_once()
    run.check_outputs()
    check(run.rc == 0, f"{run.describe()}\n{run.stderr[-1500:]}")


def checked_partial_run(run, good):
    """Each item reported once, the outputs as reported, exit 1 (some items
    failed) and every item of the hosts `good` ok."""
    run.check_each_item_once()
    run.check_outputs()
    check(run.rc == 1, run.describe())
    all_ok(run, good)


def item_states(items):
    """Each item as "ok", "down" (failed untried: its host was held down) or
    "tried", with its attempts: "down/0"."""
    return [("ok" if i["status"] == "ok" else
             "down" if i["attempts"] == 0 else "tried") + f"/{i['attempts']}" for i in items]


def check_reprobed(items, kind, message, served, what):
    """One host's items in list order, after it failed once and was held
    down: the first failed (`kind`, one attempt); those of the cool-down
    failed untried (`kind`, `message`); from the probe on, at least 4, all
    served, each with a request among the paths `served`. `what` names
    the host in the failures."""
    states = item_states(items)
    first = items[0]
    check(first["status"] == "failed" and first["error"]["kind"] == kind
          and first["attempts"] == 1, f"the first item of {what}: {first}")
    down = [i for i in items if i["status"] == "failed" and i["attempts"] == 0]
    check(down, "no item failed during the cool-down: the test cannot see it")
    for item in down:
        check(item["error"]["kind"] == kind and item["error"]["message"] == message,
              f"{item['url']}: {item['error']}")
    # In list order: the failed one, those of the cool-down, then served.
    ok_from = next((k for k, i in enumerate(items) if i["status"] == "ok"), None)
    check(ok_from is not None, f"no item of {what} was served after its cool-down")
    check(items[1:ok_from] == down, f"items in list order: {states}")
    check(all(i["status"] == "ok" for i in items[ok_from:]),
          f"an item after the probe was not served: {states}")
    check(len(items) - ok_from >= 4, f"only {len(items) - ok_from} items after "
          f"the probe: {states}")
    check({"/" + i["url"].split("/", 3)[3] for i in items[ok_from:]} <= served,
          "a served item has no request in the host's log")


def checked_downloads(run):
    checked_run(run)
    return run.summary["downloads"]
