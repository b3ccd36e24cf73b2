"""Test certificates made with the `openssl` command line: a server CA, leaf certificates it signs
(RSA 2048 or ECDSA P-256, for DNS names or addresses), client certificates from a separate client
CA, and certificates for negative tests (signed by a CA no test trusts, or expired).

Each fixture is made once per test process, on first use, in a directory removed when the process
exits: `get("example")` returns it. Tests that change files on disk (certificate reloads) work on
copies (`Cert.copy_to`).
"""

import atexit
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# name -> how it is made. kind: "ca" (self-signed), "server" or "client" (a leaf signed by issuer).
# dns/ips: its subjectAltName entries; key: "rsa" (2048 bits) or "ec" (P-256). Subjects are
# written most significant first ("/O=.../CN=..."), so their RFC 2253 form is "CN=...,O=...".
FIXTURES = {
    "ca": {"kind": "ca", "subject": "/O=Waygate Tests/CN=Waygate Test CA"},
    "client_ca": {"kind": "ca", "subject": "/O=Waygate Tests/CN=Waygate Test Client CA"},
    "other_ca": {"kind": "ca", "subject": "/O=Someone Else/CN=Untrusted CA"},
    # Listener certificates. "default" comes first in the listener configs: clients without SNI
    # or with a name no certificate has get it.
    "default": {"kind": "server", "key": "rsa", "subject": "/O=Default/CN=default.test",
                "dns": ["default.test"]},
    "example": {"kind": "server", "key": "rsa", "subject": "/O=Example/CN=example.test",
                "dns": ["example.test", "www.example.test"]},
    "example_ec": {"kind": "server", "key": "ec", "subject": "/O=Example EC/CN=example.test",
                   "dns": ["example.test", "www.example.test"]},
    "wildcard": {"kind": "server", "key": "ec", "subject": "/O=Wildcard/CN=*.wild.test",
                 "dns": ["*.wild.test"]},
    # "example" renewed: the same names and CA, another key, serial and organisation.
    "example_renewed": {"kind": "server", "key": "rsa", "subject": "/O=Renewed/CN=example.test",
                        "dns": ["example.test", "www.example.test"]},
    # Upstream certificates.
    "backend": {"kind": "server", "key": "ec", "subject": "/O=Backend/CN=backend.test",
                "dns": ["backend.test"]},
    "backend_ip": {"kind": "server", "key": "ec", "subject": "/O=Backend/CN=127.0.0.1",
                   "ips": ["127.0.0.1"]},
    # The Kubernetes API server stand-in (kube_api_server.py), reached at 127.0.0.1.
    "kube_apiserver": {"kind": "server", "key": "ec", "subject": "/O=Kubernetes/CN=kube-apiserver",
                       "dns": ["kubernetes.default.svc"], "ips": ["127.0.0.1"]},
    "backend_untrusted": {"kind": "server", "key": "ec", "issuer": "other_ca",
                          "subject": "/O=Someone Else/CN=backend.test", "dns": ["backend.test"]},
    "backend_expired": {"kind": "server", "key": "ec", "subject": "/O=Expired/CN=backend.test",
                        "dns": ["backend.test"], "expired": True},
    # Client certificates.
    "alice": {"kind": "client", "key": "ec", "issuer": "client_ca",
              "subject": "/O=Example/CN=alice"},
    "mallory": {"kind": "client", "key": "ec", "issuer": "other_ca",
                "subject": "/O=Example/CN=mallory"},
}

_REQ_CONFIG = "[req]\ndistinguished_name = dn\n[dn]\n"
# `openssl ca` signs the leaves: unlike `req -x509` and `x509 -req`, it can backdate a certificate
# (an expired one). Extensions come from the request, and the subject is kept as it is in it.
_CA_CONFIG = """[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = any_name
unique_subject = no
preserve = yes
copy_extensions = copy
[any_name]
organizationName = optional
commonName = supplied
"""
_SERIALS = {"ca": 0x1000, "client_ca": 0x2000, "other_ca": 0x3000}


class Cert:
    """A certificate and its private key in PEM files."""

    def __init__(self, name, cert, key, spec):
        self.name = name
        self.cert = cert  # path
        self.key = key  # path
        self.spec = spec
        with open(cert) as f:
            self.pem = f.read()
        self.der = ssl.PEM_cert_to_DER_cert(self.pem)
        self.fingerprint = hashlib.sha256(self.der).hexdigest()
        self.serial = int(_openssl("x509", "-in", cert, "-noout", "-serial").split("=")[1], 16)
        # RFC 2253, as X-Client-Cert-Subject carries it: "CN=alice,O=Example".
        self.subject = _openssl("x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253"
                                ).strip().removeprefix("subject=")

    def copy_to(self, directory, basename=None):
        """A copy of both files in directory (basename.pem and basename.key)."""
        basename = basename or self.name
        cert = os.path.join(directory, basename + ".pem")
        key = os.path.join(directory, basename + ".key")
        shutil.copyfile(self.cert, cert)
        shutil.copyfile(self.key, key)
        return Cert(self.name, cert, key, self.spec)

    def __repr__(self):
        return f"<Cert {self.name} serial={self.serial:#x} subject={self.subject!r}>"


def _openssl(*args, cwd=None):
    out = subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def _key_args(kind):
    if kind == "rsa":
        return ["-newkey", "rsa:2048"]
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]


class _Factory:
    """Makes fixtures in one directory, each once, in any thread."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="waygate-certs-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.req_config = os.path.join(self.dir, "req.cnf")
        with open(self.req_config, "w") as f:
            f.write(_REQ_CONFIG)
        self.made = {}
        self.lock = threading.RLock()

    def get(self, name):
        with self.lock:
            if name not in self.made:
                spec = FIXTURES[name]
                self.made[name] = (self._make_ca(name, spec) if spec["kind"] == "ca"
                                   else self._make_leaf(name, spec))
            return self.made[name]

    def _make_ca(self, name, spec):
        ca_dir = os.path.join(self.dir, name)
        os.mkdir(ca_dir)
        cert, key = os.path.join(ca_dir, "ca.pem"), os.path.join(ca_dir, "ca.key")
        _openssl("req", "-x509", "-new", *_key_args("ec"), "-nodes", "-keyout", key, "-out", cert,
                 "-days", "3650", "-subj", spec["subject"], "-config", self.req_config,
                 "-set_serial", str(_SERIALS[name]),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(os.path.join(ca_dir, "ca.cnf"), "w") as f:
            f.write(_CA_CONFIG)
        open(os.path.join(ca_dir, "index.txt"), "w").close()
        with open(os.path.join(ca_dir, "serial.txt"), "w") as f:
            f.write(f"{_SERIALS[name] + 1:x}\n")
        return Cert(name, cert, key, spec)

    def _make_leaf(self, name, spec):
        issuer = self.get(spec.get("issuer", "client_ca" if spec["kind"] == "client" else "ca"))
        ca_dir = os.path.dirname(issuer.cert)
        cert, key = os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        usage = "digitalSignature,keyEncipherment" if spec["key"] == "rsa" else "digitalSignature"
        extensions = ["basicConstraints=critical,CA:FALSE", f"keyUsage=critical,{usage}",
                      "extendedKeyUsage=" + ("clientAuth" if spec["kind"] == "client"
                                             else "serverAuth")]
        alt_names = ([f"DNS:{n}" for n in spec.get("dns", ())]
                     + [f"IP:{a}" for a in spec.get("ips", ())])
        if alt_names:
            extensions.append("subjectAltName=" + ",".join(alt_names))
        _openssl("req", "-new", *_key_args(spec["key"]), "-nodes", "-keyout", key, "-out", csr,
                 "-subj", spec["subject"], "-config", self.req_config,
                 *[arg for ext in extensions for arg in ("-addext", ext)])
        validity = (["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"]
                    if spec.get("expired") else ["-days", "30"])
        _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", issuer.cert, "-keyfile",
                 issuer.key, "-in", csr, "-out", cert, "-notext", *validity, cwd=ca_dir)
        return Cert(name, cert, key, spec)


_factory = None
_factory_lock = threading.Lock()


def get(name):
    """The fixture called name (see FIXTURES), made on first use."""
    global _factory
    with _factory_lock:
        if _factory is None:
            _factory = _Factory()
    return _factory.get(name)


def identify(der):
    """The name of the fixture whose certificate is der (bytes), among those made so far; None
    for a certificate that is none of them."""
    if _factory is None or der is None:
        return None
    fingerprint = hashlib.sha256(der).hexdigest()
    for name, cert in list(_factory.made.items()):
        if cert.fingerprint == fingerprint:
            return name
    return None


def pem_certificates(text):
    """The PEM certificates found in text (openssl s_client output, say), in order, as DER."""
    return [ssl.PEM_cert_to_DER_cert(m.group(0)) for m in re.finditer(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)]


def write_garbage(path):
    """Overwrites path in place with bytes that are no PEM at all."""
    with open(path, "wb") as f:
        f.write(b"this is not a certificate\n" * 4)
