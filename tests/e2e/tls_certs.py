#!/usr/bin/env python3
"""A test CA and ECDSA P-256 certificates, made with the `openssl` command.

For the e2e tests of HTTPS (`import tls_certs`) and for tools/bench's TLS
cases, which give nginx, h2o and lighttpd the same certificate and key as
splicehttpd:

    python3 tests/e2e/tls_certs.py DIR [NAME ...]

writes into DIR (names default to `localhost`):

    ca.crt, ca.key          the test CA (EC P-256, CA:TRUE); trust it with
                            curl --cacert DIR/ca.crt or openssl s_client -CAfile
    NAME.crt                the leaf, then the CA: what --tls-cert takes
    NAME.leaf.crt           the leaf alone
    NAME.key                its EC P-256 key, mode 0600: what --tls-key takes

NAME becomes the certificate's subjectAltName: a DNS name (a leading `*.`
makes a wildcard), or an IP address; `localhost` also names 127.0.0.1 and
::1, so a client may connect by address and still verify. Several names
for one certificate: `a.example,*.b.example` (the files are named after
the first, a `*` written as `_wildcard`).

Only the standard library and the `openssl` command (Debian's openssl
package, OpenSSL 3: `req -addext`).
"""

import ipaddress
import os
import subprocess
import sys


def _run(*args, cwd):
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {out.stderr.strip()}")


def _san(names):
    entries = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            entries.append(f"IP:{name}")
        except ValueError:
            entries.append(f"DNS:{name}")
        if name == "localhost":
            entries += ["IP:127.0.0.1", "IP:::1"]
    return ",".join(entries)


def _file_stem(names):
    return names[0].replace("*", "_wildcard")


def make_ca(directory, days=30):
    """ca.key and ca.crt in `directory` (made once, then reused)."""
    os.makedirs(directory, exist_ok=True)
    if not os.path.exists(os.path.join(directory, "ca.crt")):
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key", cwd=directory)
        _run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=splicehttpd test CA", "-days", str(days),
             "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt", cwd=directory)
        os.chmod(os.path.join(directory, "ca.key"), 0o600)
    return os.path.join(directory, "ca.crt")


def make_leaf(directory, names, days=30, key_mode=0o600):
    """A leaf for `names` (a list, or one comma-separated string), signed by
    the CA in `directory`. Returns (cert chain path, key path)."""
    directory = os.path.abspath(directory)  # openssl runs in it; the paths it is given are absolute
    if isinstance(names, str):
        names = names.split(",")
    make_ca(directory, days)
    stem = _file_stem(names)
    ext = os.path.join(directory, f"{stem}.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                f"subjectAltName={_san(names)}\n")
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{stem}.key", cwd=directory)
    os.chmod(os.path.join(directory, f"{stem}.key"), key_mode)
    _run("req", "-new", "-key", f"{stem}.key", "-subj", f"/CN={names[0]}", "-out", f"{stem}.csr", cwd=directory)
    _run("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", str(days), "-sha256", "-extfile", ext, "-out", f"{stem}.leaf.crt", cwd=directory)
    for leftover in (f"{stem}.csr", ext):
        os.unlink(os.path.join(directory, leftover))
    with open(os.path.join(directory, f"{stem}.leaf.crt")) as leaf, open(os.path.join(directory, "ca.crt")) as ca:
        chain = leaf.read() + ca.read()
    with open(os.path.join(directory, f"{stem}.crt"), "w") as f:
        f.write(chain)
    return os.path.join(directory, f"{stem}.crt"), os.path.join(directory, f"{stem}.key")


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        print("usage: tls_certs.py DIR [NAME ...]", file=sys.stderr)
        return 2
    directory = argv[1]
    for names in argv[2:] or ["localhost"]:
        cert, key = make_leaf(directory, names)
        print(f"{cert} {key}")
    print(os.path.join(directory, "ca.crt"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
