"""A throwaway CA and a server certificate made with openssl at test time, for
the HTTPS tests (tests/integration/harness.py's Nginx, the many-host world)."""
import os
import subprocess


class CertError(Exception):
    pass


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True)
    if proc.returncode != 0:
        raise CertError(f"openssl {' '.join(args)}: {proc.stderr.decode()}")


def make_certs(tmp, dns_names=("localhost",), ips=("127.0.0.1",), common_name="127.0.0.1"):
    """Writes ca.pem/ca.key (the CA) and server.pem/server.key (signed by it,
    for `dns_names` and `ips`) into `tmp`. Valid for two days."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgefetch test CA",
             "-keyout", "ca.key", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=tmp)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}",
             "-keyout", "server.key", "-out", "server.csr", cwd=tmp)
    names = [f"IP:{ip}" for ip in ips] + [f"DNS:{name}" for name in dns_names]
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName={','.join(names)}\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem", cwd=tmp)
