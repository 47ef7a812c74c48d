#!/usr/bin/env python3
"""The command line (issue 15): the one table of options (cmd/options.c,
printed by edgefetch-options) against --help, the man page, the bash
completion and the README; whole option names only, with suggestions;
usage mistakes refused; the short forms curl users type; config files;
--dry-run.

Run one case: test_options.py NAME. Needs EDGEFETCH, EDGEFETCH_OPTIONS,
FIXTURE, SAMPLES, SOURCE_ROOT.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import FIXTURE, PHOTOS, Fixture, Workspace, check, main_for, run, tree  # noqa: E402

SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
OPTIONS_DUMP = os.environ.get("EDGEFETCH_OPTIONS", "")


def table():
    """The option table: dicts with name, short, arg, kind, default, choices, help."""
    out = subprocess.run([OPTIONS_DUMP], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        name, short, arg, kind, default, choices, help_text = line.split("\t")
        rows.append({"name": name, "short": short.strip(), "arg": arg, "kind": kind,
                     "default": default, "choices": choices, "help": help_text})
    check(len(rows) > 30, f"a short table: {rows}")
    return rows


def spelling(o):
    """"-j, --max-downloads N": how the man page, --help and the README name it."""
    return (o["short"] + ", " if o["short"] else "") + "--" + o["name"] + \
        (" " + o["arg"] if o["arg"] else "")


def read_text(*parts):
    with open(os.path.join(SOURCE_ROOT, *parts), encoding="utf-8") as f:
        return f.read()


# ---- roff, just enough for our man page -----------------------------------

def roff_args(text):
    return [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"|\S+', text)]


def roff_inline(text):
    text = re.sub(r"\\f[BIRP]", "", text)
    for esc, plain in ((r"\-", "-"), (r"\(aq", "'"), (r"\(<=", "<="), (r"\e", "\\"), (r"\&", "")):
        text = text.replace(esc, plain)
    return text


def roff_line(line):
    """A line of text as it reads: font macros' arguments joined."""
    m = re.match(r"^\.(B|I|BR|BI|IR|RB|IB|RI)\s+(.*)$", line)
    if m is None:
        return roff_inline(line)
    args = roff_args(m.group(2))
    sep = " " if m.group(1) in ("B", "I") else ""
    return roff_inline(sep.join(args))


def man_entries():
    """{heading as it reads: paragraph as it reads} of the man page's
    OPTIONS section."""
    page = read_text("docs", "edgefetch.1")
    section = page[page.index(".SH OPTIONS"):page.index(".SH EXIT STATUS")]
    entries = {}
    lines = section.splitlines()
    i = 0
    while i < len(lines):
        if lines[i] == ".TP":
            heading = roff_line(lines[i + 1])
            body = []
            i += 2
            while i < len(lines) and not lines[i].startswith((".TP", ".SS", ".SH")):
                body.append(roff_line(lines[i]))
                i += 1
            check(heading not in entries, f"man page: {heading} twice")
            entries[heading] = " ".join(" ".join(body).split())
        else:
            i += 1
    return entries


def described(o):
    """The sentence every description starts with: the help text and the
    default, as --help prints them."""
    text = o["help"]
    if o["default"] == "on":
        text += " (the default)"
    elif o["default"]:
        text += f" (default: {o['default']})"
    return " ".join(text.split())


def test_options_docs():
    """One table: --help lists every option with its help text and default;
    the man page has one entry per option, headed as the table spells it and
    starting with its help text and default; the completion knows every long
    and short name and completes files, folders and choices where the table
    says so; the README's table has one row per option, spelled and
    defaulted as the table says. Nothing more in any of them."""
    rows = table()
    names = {"--" + o["name"] for o in rows} | {o["short"] for o in rows if o["short"]}

    rc, out, err = run(["--help"])
    check(rc == 0 and err == "", f"--help: exit {rc}: {err}")
    help_text = " ".join(out.split())
    for o in rows:
        check(spelling(o) in out, f"--help lacks {spelling(o)!r}")
        check(described(o) in help_text, f"--help: {o['name']}: want {described(o)!r}")
    check(set(re.findall(r"(?m)^  (?:-\w, )?\s*(--[\w-]+)", out)) == {"--" + o["name"] for o in rows},
          "--help lists other options")

    entries = man_entries()
    check(set(entries) == {spelling(o) for o in rows},
          f"man page headings differ from the table:\n  extra {set(entries) - {spelling(o) for o in rows}}"
          f"\n  missing {({spelling(o) for o in rows}) - set(entries)}")
    for o in rows:
        body = entries[spelling(o)]
        want = described(o)
        check(body[:1].lower() == want[:1].lower() and body[1:].startswith(want[1:]),
              f"man page {spelling(o)}: starts {body[:120]!r}, want {want!r}")
    page = read_text("docs", "edgefetch.1")
    for example in ("15 2 * * *", "sbatch", "JOB_COMPLETION_INDEX"):
        check(example in page, f"man page lost its example {example!r}")

    comp = read_text("cmd", "completion", "edgefetch")
    words = set(re.search(r'compgen -W "(--input[^"]*)"', comp).group(1).split())
    check(words == names, f"completion words: extra {words - names}, missing {names - words}")
    branches = {}
    cases = comp[comp.index("case $prev in") + len("case $prev in"):comp.index("esac")]
    for branch in cases.replace("\\\n", "").split(";;"):
        if ")" not in branch:
            continue
        patterns, action = branch.split(")", 1)
        for name in patterns.replace(" ", "").strip().split("|"):
            branches[name] = action.strip()
    for o in rows:
        for n in ["--" + o["name"]] + ([o["short"]] if o["short"] else []):
            action = branches.get(n)
            if o["kind"] == "none":
                check(action is None, f"completion: flag {n} takes a value there")
            elif o["kind"] in ("file", "list"):
                check(action is not None and "compgen -f" in action, f"completion: {n}: {action}")
            elif o["kind"] == "dir":
                check(action is not None and "compgen -d" in action, f"completion: {n}: {action}")
            elif o["kind"] == "choice":
                check(action is not None and f'compgen -W "{o["choices"]}"' in action,
                      f"completion: {n}: {action}, want {o['choices']}")
            else:
                check(action is not None and action.strip() == "return",
                      f"completion: {n} completes something: {action}")

    readme = read_text("README.md")
    start = readme.index("| option | meaning | default |")
    rows_md = []
    for line in readme[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows_md.append(cells)
    check([c[0] for c in rows_md] == [f"`{spelling(o)}`" for o in rows],
          f"README options differ: {[c[0] for c in rows_md]}")
    for cells, o in zip(rows_md, rows):
        check(cells[2] == o["default"], f"README {o['name']}: default {cells[2]!r}, want {o['default']!r}")
        check(cells[1].startswith(o["help"].replace("|", "\\|")), f"README {o['name']}: {cells[1]!r}")


def test_whole_names():
    """Long options are taken whole: --out, --comp, --user-agen and
    --max-download are refused (exit 2, nothing fetched) with the nearest
    name suggested; --user is -u, never --user-agent: the credentials go as
    Authorization, the User-Agent stays ours."""
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        url = server.url(PHOTOS[0])
        for given, near in (("--out", "--output"), ("--comp", "--compare"),
                            ("--user-agen", "--user-agent"), ("--max-download", "--max-downloads"),
                            ("--max-dowloads", "--max-downloads"), ("--retires", "--retries")):
            rc, _, err = run([given, "x", "-o", ws.out, url])
            check(rc == 2, f"{given}: exit {rc}: {err}")
            check(f"unknown option '{given}' (did you mean {near}?)" in err, f"{given}: {err}")
        rc, _, err = run(["--frobnicate", url])
        check(rc == 2 and "unknown option '--frobnicate'" in err and "did you mean" not in err, err)
        check(server.stats()["requests"] == 0, "a refused command line fetched")
        rc, _, err = run(["-q", "--user", "alice:s3cret", "-o", ws.out, url])
        check(rc == 0, f"--user: exit {rc}: {err}")
        headers = server.stats()["request_headers"]
        check(headers.get("authorization") == 1 and headers.get("user-agent") == 1, f"{headers}")
        # --name=value is one word; a flag takes none.
        rc, _, err = run(["--json=1", url])
        check(rc == 2 and "takes no value" in err, f"--json=1: {rc} {err}")
        rc, _, err = run(["-q", "--max-downloads=2", "-o", ws.out, "--force", url])
        check(rc == 0, f"--max-downloads=2: {rc} {err}")


def test_usage_mistakes():
    """Refused with a clear message and exit 2 before any request:
    --sequential --compare together, -o - (a folder named '-'), a URL or an
    option where a file or folder is expected (--cacert URL, -i URL,
    --cacert -k), a value missing at the end."""
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        url = server.url(PHOTOS[0])
        cases = [
            (["--sequential", "--compare", url], "--sequential and --compare together"),
            (["--compare", "--concurrent", url], "--compare and --concurrent together"),
            (["-o", "-", url], "-o wants a folder, not '-'"),
            (["--output=-", url], "--output wants a folder, not '-'"),
            (["--cacert", url], f"--cacert wants a file name, not the URL '{url}'"),
            (["--cacert", "-k", url], "--cacert wants a file name, not the option '-k'"),
            (["-i", url], f"-i wants a file name, not the URL '{url}'"),
            (["-o", url, url], f"-o wants a folder name, not the URL '{url}'"),
            (["--netrc-file", "--json", url], "--netrc-file wants a file name, not the option"),
            ([url, "--timeout"], "option '--timeout' needs a value"),
            ([url, "-j"], "option '-j' needs a value"),
            (["-u", "nocolon", url], "-u (-u/--user) wants USER:PASSWORD"),
        ]
        cwd = os.getcwd()
        os.chdir(ws.tmp)
        try:
            for args, message in cases:
                rc, out, err = run(args)
                check(rc == 2, f"{args}: exit {rc}: {err}")
                check(message in err and "Try 'edgefetch --help'" in err, f"{args}: {err!r}")
            check(not os.path.exists(os.path.join(ws.tmp, "-")), "a folder named '-' was made")
        finally:
            os.chdir(cwd)
        check(server.stats()["requests"] == 0, "fetched despite a usage error")
        # The modes one at a time still work, and a folder called '-' by path.
        rc, _, err = run(["-q", "--sequential", "-o", os.path.join(ws.tmp, "-"), url])
        check(rc == 0 and os.path.isdir(os.path.join(ws.tmp, "-")), f"-o DIR/-: {rc} {err}")


def test_short_forms():
    """-k is --insecure (its warning), -A --user-agent, -u --user, -x
    --proxy (checked in test_auth.py against a proxy); bundled flags (-qv)
    and attached values (-j2) as in GNU and curl."""
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        url = server.url(PHOTOS[0])
        rc, _, err = run(["-s", "-k", "-o", ws.out, url])
        check(rc == 0 and "--insecure: https certificates are NOT verified" in err, f"-k: {err}")
        rc, _, err = run(["-sA", "probe/9", "-j2", "-o", ws.out, "--force", url])
        check(rc == 0 and err == "", f"-sA probe/9 -j2: {rc} {err}")
        rc, _, err = run(["-qv", "-o", ws.out, "--force", url])
        check(rc == 0 and " ok " in err, f"-qv (the last wins): {err}")
        headers = server.stats()["request_headers"]
        check(headers.get("user-agent") == 3, f"{headers}")
        rc, _, err = run(["-Z", url])
        check(rc == 2 and "unknown option '-Z'" in err, err)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_config_file():
    """--config FILE: 'name value', '--name=value', 'name = value', quoted
    values and comments; the command line overrides it; the default file
    under $XDG_CONFIG_HOME is read unless --no-config; errors name the file
    and the line (exit 2, nothing fetched)."""
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = [server.url(n) for n in PHOTOS[:2]]
        lst = ws.list_file(urls)
        conf = os.path.join(ws.tmp, "edgefetch.conf")
        out_a = os.path.join(ws.tmp, "from-config")
        write(conf, "# a batch job\n\n  input " + lst + "\n--output=" + out_a + "\n"
              "header = X-Key: one two  \n"
              'user-agent "probe \\"cfg\\""\n'
              "json\n   # indented comment\nmax-downloads: 2\n")
        env_home = os.path.join(ws.tmp, "home")
        os.makedirs(env_home)
        env = dict(os.environ, HOME=env_home, XDG_CONFIG_HOME=os.path.join(ws.tmp, "xdg"))
        proc = subprocess.run([os.environ["EDGEFETCH"], "--config", conf, "-q"], env=env,
                              capture_output=True, text=True, timeout=120)
        check(proc.returncode == 0, f"--config: exit {proc.returncode}: {proc.stderr}")
        check(tree(out_a) == sorted(n.replace(".jpg", ".png") for n in PHOTOS[:2]), tree(out_a))
        check(proc.stdout.count('"type":"item"') == 2, "json from the config file not on")
        headers = server.stats()["request_headers"]
        check(headers.get("x-key") == 2, f"header from the config: {headers}")

        # The command line wins: -o elsewhere, --sequential over nothing.
        out_b = os.path.join(ws.tmp, "from-argv")
        proc = subprocess.run([os.environ["EDGEFETCH"], "-K", conf, "-q", "-o", out_b], env=env,
                              capture_output=True, text=True, timeout=120)
        check(proc.returncode == 0 and len(tree(out_b)) == 2, f"override: {proc.stderr} {tree(out_b)}")

        # The default file, and --no-config.
        xdg = os.path.join(ws.tmp, "xdg", "edgefetch")
        os.makedirs(xdg)
        out_c = os.path.join(ws.tmp, "from-default")
        write(os.path.join(xdg, "config"), f"output {out_c}\nsilent\n")
        proc = subprocess.run([os.environ["EDGEFETCH"], urls[0]], env=env, capture_output=True,
                              text=True, timeout=120)
        check(proc.returncode == 0 and proc.stderr == "" and tree(out_c) == [PHOTOS[0].replace(".jpg", ".png")],
              f"default config: {proc.returncode} {proc.stderr!r} {tree(out_c) if os.path.isdir(out_c) else None}")
        cwd = os.getcwd()
        os.chdir(ws.tmp)
        try:
            proc = subprocess.run([os.environ["EDGEFETCH"], "--no-config", "-q", urls[0]], env=env,
                                  capture_output=True, text=True, timeout=120)
            check(proc.returncode == 0 and os.path.isdir(os.path.join(ws.tmp, "edges")),
                  f"--no-config still read the default: {proc.stderr}")
        finally:
            os.chdir(cwd)
        # HOME's ~/.config when XDG_CONFIG_HOME is unset.
        env_nox = dict(env)
        del env_nox["XDG_CONFIG_HOME"]
        os.makedirs(os.path.join(env_home, ".config", "edgefetch"))
        write(os.path.join(env_home, ".config", "edgefetch", "config"), "max-downloads 0\n")
        proc = subprocess.run([os.environ["EDGEFETCH"], urls[0]], env=env_nox, capture_output=True,
                              text=True, timeout=120)
        want = os.path.join(env_home, ".config", "edgefetch", "config") + ":1: --max-downloads"
        check(proc.returncode == 2 and want in proc.stderr, f"~/.config: {proc.stderr}")

        requests = server.stats()["requests"]
        bad = os.path.join(ws.tmp, "bad.conf")
        for text, line, words in (
                ("json\nmax-downlods 3\n", 2, "unknown option 'max-downlods' (did you mean max-downloads?)"),
                ("# c\n\n-j 3\n", 3, "long name"),
                ("json yes\n", 1, "takes no value"),
                ("timeout\n", 1, "needs a value"),
                ('user-agent "open\n', 1, "unterminated quote"),
                ("config other\n", 1, "command line"),
                ("retries lots\n", 1, "--retries wants 0 to 100, not 'lots'"),
                ("sequential\ncompare\n", 2, "--sequential and --compare together")):
            write(bad, text)
            proc = subprocess.run([os.environ["EDGEFETCH"], "--config", bad, urls[0]], env=env,
                                  capture_output=True, text=True, timeout=60)
            check(proc.returncode == 2, f"{text!r}: exit {proc.returncode}: {proc.stderr}")
            check(f"{bad}:{line}: " in proc.stderr and words in proc.stderr,
                  f"{text!r}: want '{bad}:{line}: ... {words}' in {proc.stderr!r}")
        proc = subprocess.run([os.environ["EDGEFETCH"], "--config", bad + ".missing", urls[0]],
                              env=env, capture_output=True, text=True, timeout=60)
        check(proc.returncode == 2 and "bad.conf.missing" in proc.stderr, proc.stderr)
        # A mode in a config file is overridden, not contradicted, by argv.
        write(bad, "sequential\n")
        proc = subprocess.run([os.environ["EDGEFETCH"], "--config", bad, "--compare", "-q", "-o",
                               os.path.join(ws.tmp, "cmp"), urls[0]], env=env, capture_output=True,
                              text=True, timeout=120)
        check(proc.returncode == 0 and os.path.isdir(os.path.join(ws.tmp, "cmp", "concurrent")),
              f"--compare over a config's --sequential: {proc.returncode} {proc.stderr}")
        check(server.stats()["requests"] == requests + 2, "a refused config fetched")


def test_dry_run():
    """--dry-run prints, per unique URL in list order, fetch or skip (resume:
    the output is there), refused (with the reason) or other-shard, the
    output the run would write, the URL's shard and the URL; it sends no
    request (the fixture counts none) and creates nothing; the names and
    decisions are those of the real run that follows."""
    with Workspace(PHOTOS[:4]) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = [server.url(n) for n in PHOTOS[:4]]
        lst = ws.list_file(urls[:2])
        rc, _, err = run(["-q", "-i", lst, "-o", ws.out])
        check(rc == 0, f"first run: {err}")
        server.reset()
        listed = urls + [urls[0], "ftp://127.0.0.1/x.jpg"]
        lst = ws.list_file(listed)
        before = tree(ws.tmp)
        rc, out, err = run(["--dry-run", "-i", lst, "-o", ws.out])
        check(rc == 0 and err == "", f"--dry-run: exit {rc}: {err}")
        lines = [line.split("\t") for line in out.splitlines()]
        check(len(lines) == 5, f"one line per unique URL: {out}")
        for fields, url, action in zip(lines, urls, ("skip", "skip", "fetch", "fetch")):
            name = os.path.join(ws.out, os.path.basename(url).replace(".jpg", ".png"))
            check(fields == [action, name, "0/1", url], f"{url}: {fields}")
        check(lines[4][0] == "refused" and lines[4][1] == "-" and "ftp" in lines[4][4], lines[4])
        check(server.stats()["requests"] == 0, f"--dry-run sent requests: {server.stats()['per_path']}")
        check(tree(ws.tmp) == before, "--dry-run wrote something")
        rc, out_shard, _ = run(["--dry-run", "--shard", "1/2", "-i", lst, "-o",
                                os.path.join(ws.tmp, "nowhere")])
        check(rc == 0 and not os.path.exists(os.path.join(ws.tmp, "nowhere")), "made the folder")
        for fields in (line.split("\t") for line in out_shard.splitlines()):
            if fields[0] != "refused":
                want = "fetch" if fields[2] == "1/2" else "other-shard"
                check(fields[0] == want and fields[2] in ("0/2", "1/2"), f"--shard: {fields}")
        # Its plan is text: --json with it is refused, not ignored (a script
        # would wait for a summary that never comes).
        rc, out_json, err = run(["--dry-run", "--json", "-i", lst, "-o", ws.out])
        check(rc == 2 and out_json == "" and "--json" in err and "--dry-run" in err,
              f"--dry-run --json: exit {rc}: {out_json!r} {err!r}")
        check(server.stats()["requests"] == 0, "--dry-run --json sent requests")
        # The real run fetches exactly the "fetch" lines.
        rc, _, err = run(["-q", "-i", lst, "-o", ws.out])
        check(rc == 1 and server.stats()["requests"] == 2, f"real run: {rc} {server.stats()['per_path']}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
