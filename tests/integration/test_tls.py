"""TLS (issue 15): listeners that terminate TLS and clusters whose endpoints speak it.

Listeners: the certificate chosen by SNI and by the client's algorithms, protocol versions and
ciphers, ALPN, X-Forwarded-Proto, HSTS, session resumption across workers, certificates reloaded
from disk, client certificates (mTLS), handshake failures and timeouts, and `--check`. Clusters:
verification of the upstream's certificate (CA, name, expiry), SNI, client certificates, retries
and health checks over TLS, against nginx terminating TLS in front of upstream.py.

Certificates come from certs.py (made with openssl once per test process). Which certificate a
client got is told by its fingerprint (`served`: the name of the certs.py fixture). Clients are
Python's ssl (harness.HttpsConnection), and `openssl s_client` and curl where the contract names
them. Listener configs name their files relative to the config's directory, as users write them.
"""

import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import unittest
import warnings

import certs
from harness import (HOST, OPENSSL_BIN, WAYGATE_BIN, ConnectionClosed, HttpConnection,
                     HttpsConnection, WaygateTestCase, check_config, curl, free_port, health_line,
                     port_accepts, proxy_config, request, s_client, tls_context, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard for "the change applied", not a timing expectation
LISTENER = "web"  # the listener's name in proxy_config, as the stderr lines name it
CERTS_RELOADED = rf"tls: listener {LISTENER}: certificates reloaded"
PLAIN_HTTP_BODY = b"400 Bad Request: plain HTTP sent to a TLS port\n"
# The listener certificates most tests serve; the first is the default.
LISTENER_CERTS = ("default", "example", "example_ec", "wildcard")


def refused_line(file_regex):
    """The stderr line of a certificate or key file refused on reload; file_regex matches the end
    of its path (as written in the config, or absolute)."""
    return (rf"tls: listener {LISTENER}: certificate refused: \S*{file_regex}: .+; "
            rf"the old ones keep serving")


def handshake_failed(source):
    """The stderr line of a failed handshake with a client connecting from source. Tests that
    look for it connect from an address of their own (127.0.0.0/8), so that no other connection
    (waygate's readiness probe, another test) can be the one logged."""
    return rf"tls: handshake with {re.escape(source)} failed: \S"


def ca_file():
    return certs.get("ca").cert


def ca_context(**kwargs):
    """A client that verifies the server against the test CA."""
    return tls_context(ca=ca_file(), **kwargs)


def exchange(port, context, server_hostname, target="/headers", headers=()):
    """One GET on a fresh TLS connection: (response, Tls, None), or (None, None, error) when the
    handshake or the connection failed. The client's own verification failing is not a failure
    of the server: it raises."""
    try:
        with HttpsConnection(port, context, server_hostname) as conn:
            conn.send(request("GET", target, host=server_hostname or "proxy.test",
                              headers=headers))
            return conn.read_response(), conn.tls, None
    except ssl.SSLCertVerificationError:
        raise
    except (ssl.SSLError, ConnectionClosed, ConnectionError) as e:
        return None, None, e


def headers_seen(resp):
    """{lower name: [values]} of the request the upstream got (its /headers answer)."""
    seen = {}
    for name, value in resp.json()["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


def client_hello(server_hostname="example.test"):
    """The bytes of a real TLS ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_context().wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def replace_files(target, new):
    """Replaces target's key and certificate files (a certs.Cert copy) with new's as a deploy tool
    does: each written beside its file, then renamed over it."""
    for source, path in ((new.key, target.key), (new.cert, target.cert)):
        shutil.copyfile(source, path + ".new")
        os.rename(path + ".new", path)


class TlsTestCase(WaygateTestCase):

    @classmethod
    def start_tls(cls, env, upstream, cert_names=LISTENER_CERTS, workers=1, timeouts=None,
                  client_ca=None, **tls):
        """waygate with a TLS listener sending every request to upstream. The certificates
        (fixture names, the first the default) are copied into <config dir>/certs and named
        relative to the config; client_ca (a fixture name) likewise. tls: the listener's other
        tls keys. The copies are wg.certs[name]."""
        directory = tempfile.mkdtemp(prefix="tls-", dir=env.dir)
        cert_dir = os.path.join(directory, "certs")
        os.mkdir(cert_dir)
        copies = {name: certs.get(name).copy_to(cert_dir) for name in cert_names}
        block = {"certificates": [{"cert": f"certs/{name}.pem", "key": f"certs/{name}.key"}
                                  for name in cert_names], **tls}
        if client_ca:
            shutil.copyfile(certs.get(client_ca).cert, os.path.join(cert_dir, "clients.pem"))
            block["client_ca"] = "certs/clients.pem"
        port = free_port()
        text = proxy_config(port, {"app": [upstream.address]}, workers=workers,
                            timeouts=timeouts, tls=block)
        wg = env.waygate(text, port, config_path=os.path.join(directory, "waygate.yaml"))
        wg.certs = copies
        return wg

    def served(self, port, server_hostname, context=None):
        """Which certificate a new connection gets (after a request through it answered 200)."""
        with HttpsConnection(port, context or ca_context(), server_hostname) as conn:
            conn.send(request("GET", "/which", host=server_hostname or "proxy.test"))
            resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        return conn.tls.served

    def assertRefused(self, port, context, server_hostname="example.test"):
        """The server refuses this client: the handshake fails or the connection ends before any
        response (in TLS 1.3 the client learns that its certificate was refused only when it
        reads)."""
        resp, tls, error = exchange(port, context, server_hostname)
        self.assertIsNone(resp, f"the server answered: {resp!r} over {tls!r}")
        return error


class CertificateSelectionTest(TlsTestCase):
    """One listener with four certificates: default.test (RSA, first: the default),
    example.test and www.example.test (RSA and ECDSA) and *.wild.test (ECDSA)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_tls(cls.class_env, cls.up)
        cls.port = cls.wg.port

    def test_exact_name_gets_its_certificate(self):
        for name in ("example.test", "www.example.test"):
            with self.subTest(name=name):
                self.assertIn(self.served(self.port, name), ("example", "example_ec"))

    def test_name_under_the_wildcard_gets_the_wildcard_certificate(self):
        for name in ("api.wild.test", "x.wild.test"):
            with self.subTest(name=name):
                self.assertEqual(self.served(self.port, name), "wildcard")

    def test_wildcard_matches_one_label_only(self):
        for name in ("a.b.wild.test", "wild.test"):
            with self.subTest(name=name):
                self.assertEqual(self.served(self.port, name), "default")

    def test_client_without_sni_gets_the_first_certificate(self):
        self.assertEqual(self.served(self.port, None), "default")

    def test_unknown_name_gets_the_first_certificate(self):
        self.assertEqual(self.served(self.port, "unknown.test"), "default")

    def test_curl_gets_the_upstream_answer_through_waygate(self):
        for name in ("example.test", "api.wild.test"):
            with self.subTest(name=name):
                result = curl(f"https://{name}:{self.port}/via-curl", "--resolve",
                              f"{name}:{self.port}:{HOST}", "--cacert", ca_file())
                self.assertEqual((result.returncode, result.status, result.body),
                                 (0, 200, b"A GET /via-curl\n"), result)
                self.assertEqual(result.http_version, "2", result)  # ALPN h2 (test_http2.py)

    def test_client_algorithms_pick_the_rsa_or_the_ecdsa_certificate(self):
        """example.test has an RSA and an ECDSA certificate: a client that can only verify
        ECDSA (or only use ECDSA cipher suites) gets that one, an RSA-only client the other."""
        cases = [("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", "example_ec"),
                 ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "example"),
                 ("-tls1_2", "-sigalgs", "ECDSA+SHA256", "example_ec"),
                 ("-tls1_2", "-sigalgs", "RSA+SHA256:rsa_pss_rsae_sha256", "example"),
                 ("-tls1_3", "-sigalgs", "ECDSA+SHA256", "example_ec"),
                 ("-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256", "example")]
        for version, option, value, expected in cases:
            with self.subTest(version=version, option=option, value=value):
                result = s_client(self.port, version, option, value, servername="example.test")
                self.assertTrue(result.connected, result)
                self.assertEqual(result.served, expected, result)

    def test_no_hsts_header_without_the_setting(self):
        resp, _, _ = exchange(self.port, ca_context(), "example.test")
        self.assertEqual(resp.status, 200, resp)
        self.assertIsNone(resp.header("strict-transport-security"), resp)


class LegacyTlsServer:
    """openssl s_server at security level 0, accepting TLS 1.0 to 1.3: proof that the legacy
    clients below can connect at all, so that waygate refusing them means something."""

    def __init__(self, cert):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [OPENSSL_BIN, "s_server", "-accept", f"{HOST}:{self.port}", "-cert", cert.cert,
             "-key", cert.key, "-cipher", "DEFAULT@SECLEVEL=0", "-www"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.proc.poll() is not None or port_accepts(self.port),
                   message="openssl s_server to accept")
        if self.proc.poll() is not None:
            raise RuntimeError(f"openssl s_server exited with {self.proc.returncode}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class ProtocolTest(TlsTestCase):
    """Versions, cipher suites and ALPN on a listener with the default settings."""

    LEGACY = (("-tls1", "TLSv1"), ("-tls1_1", "TLSv1.1"))
    # Debian's OpenSSL refuses TLS 1.0/1.1 at its default security level, client side too.
    LEGACY_CLIENT = ("-cipher", "DEFAULT@SECLEVEL=0")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_tls(cls.class_env, cls.up, ("default", "example_ec"))
        cls.port = cls.wg.port

    def test_tls_1_0_and_1_1_are_refused(self):
        control = LegacyTlsServer(certs.get("default"))
        self.addCleanup(control.stop)
        for option, protocol in self.LEGACY:
            with self.subTest(version=protocol):
                result = s_client(control.port, option, *self.LEGACY_CLIENT)
                self.assertEqual(result.protocol, protocol,
                                 f"inconclusive: this client cannot speak {protocol}: {result}")
                result = s_client(self.port, option, *self.LEGACY_CLIENT,
                                  servername="example.test")
                self.assertFalse(result.connected, result)
                self.assertNotEqual(result.returncode, 0, result)

    def test_legacy_client_is_refused_and_logged(self):
        control = LegacyTlsServer(certs.get("default"))
        self.addCleanup(control.stop)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is, that is the point
            legacy = tls_context(versions=(ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1),
                                 ciphers="DEFAULT@SECLEVEL=0")
        with HttpsConnection(control.port, legacy) as conn:
            self.assertEqual(conn.tls.version, "TLSv1.1", "inconclusive: no TLS 1.1 client")
        source = "127.0.0.24"
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            HttpsConnection(self.port, legacy, "example.test", source=source).close()
        self.wg.wait_for_stderr(handshake_failed(source))

    def test_tls_1_2_and_1_3_are_accepted(self):
        for option, protocol in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            with self.subTest(version=protocol):
                result = s_client(self.port, option, servername="example.test",
                                  data=b"GET /v HTTP/1.1\r\nHost: example.test\r\n"
                                       b"Connection: close\r\n\r\n")
                self.assertEqual(result.protocol, protocol, result)
                self.assertIn("HTTP/1.1 200 ", result.output, result)
                self.assertIn("A GET /v\n", result.output, result)

    def test_default_tls_1_2_ciphers_are_aead_only(self):
        for cipher, accepted in (("ECDHE-ECDSA-AES128-GCM-SHA256", True),
                                 ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
                                 ("ECDHE-ECDSA-AES128-SHA", False),
                                 ("ECDHE-ECDSA-AES256-SHA384", False)):
            with self.subTest(cipher=cipher):
                result = s_client(self.port, "-tls1_2", "-cipher", cipher,
                                  servername="example.test")
                self.assertEqual(result.connected, accepted, result)

    def test_client_order_picks_the_tls_1_3_suite(self):
        """Every default suite is strong, and the client knows whether it has AES in hardware:
        its first choice wins (a phone preferring ChaCha20 gets ChaCha20)."""
        for offer in ("TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384",
                      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"):
            with self.subTest(offer=offer):
                result = s_client(self.port, "-tls1_3", "-ciphersuites", offer,
                                  servername="example.test")
                self.assertEqual(result.cipher, offer.split(":")[0], result)

    def test_alpn_selects_h2_then_http_1_1(self):
        result = s_client(self.port, "-alpn", "h2,http/1.1", servername="example.test")
        self.assertIn("ALPN protocol: h2", result.output, result)
        # A client that offers only http/1.1 gets it, and the connection then speaks HTTP/1.1.
        result = s_client(self.port, "-alpn", "http/1.1", servername="example.test")
        self.assertIn("ALPN protocol: http/1.1", result.output, result)
        resp, tls, _ = exchange(self.port, ca_context(alpn=["http/1.1"]), "example.test",
                                target="/alpn")
        self.assertEqual(tls.alpn, "http/1.1", tls)
        self.assertEqual((resp.status, resp.body), (200, b"A GET /alpn\n"), resp)


class VersionAndCipherSettingsTest(TlsTestCase):

    def test_min_version_1_3_refuses_tls_1_2(self):
        up = self.env.upstream("A")
        wg = self.start_tls(self.env, up, ("default",), min_version="1.3")
        self.assertFalse(s_client(wg.port, "-tls1_2").connected)
        result = s_client(wg.port, "-tls1_3")
        self.assertEqual(result.protocol, "TLSv1.3", result)

    def test_ciphers_limit_tls_1_2_cipher_suites(self):
        up = self.env.upstream("A")
        wg = self.start_tls(self.env, up, ("default",), ciphers="ECDHE+CHACHA20")
        self.assertFalse(s_client(wg.port, "-tls1_2", "-cipher",
                                  "ECDHE-RSA-AES128-GCM-SHA256").connected)
        result = s_client(wg.port, "-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305")
        self.assertEqual(result.cipher, "ECDHE-RSA-CHACHA20-POLY1305", result)
        self.assertTrue(s_client(wg.port, "-tls1_3").connected, "TLS 1.3 suites are apart")


class ForwardedHeadersAndHstsTest(TlsTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_tls(cls.class_env, cls.up, ("default", "example"), hsts="365d")
        cls.port = cls.wg.port

    def test_upstream_gets_x_forwarded_proto_https(self):
        resp, _, _ = exchange(self.port, ca_context(), "example.test")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(headers_seen(resp).get("x-forwarded-proto"), ["https"])

    def test_client_sent_x_forwarded_proto_is_replaced(self):
        resp, _, _ = exchange(self.port, ca_context(), "example.test",
                              headers=[("X-Forwarded-Proto", "http")])
        self.assertEqual(headers_seen(resp).get("x-forwarded-proto"), ["https"])

    def test_responses_carry_strict_transport_security(self):
        resp, _, _ = exchange(self.port, ca_context(), "example.test", target="/page")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header_values("strict-transport-security"), ["max-age=31536000"])


class SessionResumptionTest(TlsTestCase):
    """Session tickets work whichever of the two workers takes the next connection: a client
    resuming ten times meets both of them but with odds of 1 in 512."""

    TRIES = 10
    REQUEST = b"GET /resumed HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_tls(cls.class_env, cls.up, ("default", "example"), workers=2)
        cls.port = cls.wg.port

    def test_saved_session_is_resumed_by_every_worker(self):
        session = os.path.join(self.env.dir, "session.pem")
        first = s_client(self.port, "-sess_out", session, servername="example.test",
                         data=self.REQUEST)
        self.assertEqual(first.reused, [False], first)
        self.assertIn("HTTP/1.1 200 ", first.output, first)
        for attempt in range(self.TRIES):
            result = s_client(self.port, "-sess_in", session, servername="example.test",
                              data=self.REQUEST)
            self.assertEqual(result.reused, [True], f"attempt {attempt}: {result}")
            self.assertIn("HTTP/1.1 200 ", result.output, result)

    def test_reconnect_resumes_tls_1_2_sessions(self):
        # OpenSSL 3.0's s_client -reconnect resumes TLS 1.2 sessions only: in TLS 1.3 it drops
        # the connection before the ticket arrives (nginx does not see it resumed either).
        result = s_client(self.port, "-tls1_2", "-reconnect", servername="example.test")
        self.assertEqual(result.reused, [False] + [True] * 5, result)


class HttpsKeepAliveLoad:
    """GETs on one keep-alive TLS connection per thread until stop(). Records every failure
    (after which the thread connects again), the connections each thread made and the
    certificate its last connection got."""

    def __init__(self, port, context, server_hostname, threads=4):
        self.port = port
        self.context = context
        self.server_hostname = server_hostname
        self.completed = [0] * threads
        self.connections = [0] * threads
        self.served = [None] * threads
        self.failures = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, index):
        conn = None
        while not self._stop.is_set():
            target = f"/load/{index}/{self.completed[index]}"
            try:
                if conn is None:
                    conn = HttpsConnection(self.port, self.context, self.server_hostname)
                    self.connections[index] += 1
                    self.served[index] = conn.tls.served
                conn.send(request("GET", target, host=self.server_hostname))
                resp = conn.read_response()
                if (resp.status, resp.body) != (200, f"A GET {target}\n".encode()):
                    self.failures.append(f"{target}: {resp!r}")
            except (OSError, ConnectionClosed, AssertionError) as e:
                self.failures.append(f"{target}: {e!r}")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            self.completed[index] += 1
        if conn is not None:
            conn.close()

    def wait_for_each(self, counts):
        """Waits until thread i has completed counts[i] requests."""
        wait_until(lambda: all(c >= n for c, n in zip(self.completed, counts)), POLL_TIMEOUT,
                   0.02, f"every thread to complete {counts} requests (done: {self.completed})")

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(POLL_TIMEOUT)


class CertificateReloadTest(TlsTestCase):
    """Certificate files replaced on disk (two workers): new connections get the new certificate,
    open ones carry on, and a broken file is refused while the old certificates keep serving."""

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")

    def start(self):
        self.wg = self.start_tls(self.env, self.up, ("default", "example"), workers=2)
        self.port = self.wg.port
        self.assertEqual(self.served(self.port, "example.test"), "example")
        return self.wg

    def wait_until_served(self, name, server_hostname="example.test"):
        """Waits until six new connections in a row get name (whichever worker takes them)."""
        wait_until(lambda: all(self.served(self.port, server_hostname) == name
                               for _ in range(6)),
                   POLL_TIMEOUT, 0.02, f"new connections to get {name}")

    def test_renewed_files_reach_new_connections_while_open_ones_carry_on(self):
        self.start()
        idle = HttpsConnection(self.port, ca_context(), "example.test")
        self.addCleanup(idle.close)
        load = HttpsKeepAliveLoad(self.port, ca_context(), "example.test")
        self.addCleanup(load.stop)
        load.wait_for_each([20] * 4)

        renewed = certs.get("example_renewed")
        replace_files(self.wg.certs["example"], renewed)
        self.wg.wait_for_stderr(CERTS_RELOADED)
        self.wait_until_served("example_renewed")
        self.assertEqual(self.served(self.port, "default.test"), "default")
        load.wait_for_each([n + 20 for n in load.completed])
        load.stop()

        self.assertEqual(load.failures, [], "clients saw errors while the certificate changed")
        self.assertEqual(load.connections, [1] * 4, "keep-alive connections were closed")
        self.assertEqual(load.served, ["example"] * 4)
        # A connection idle since before the reload still answers, on its old certificate.
        idle.send(request("GET", "/after", host="example.test"))
        self.assertEqual(idle.read_response().body, b"A GET /after\n")
        self.assertEqual(idle.tls.served, "example")
        # The serial and subject say it is another certificate, signed by the same CA.
        with HttpsConnection(self.port, ca_context(), "example.test") as conn:
            peer = conn.sock.getpeercert()
        self.assertEqual(int(peer["serialNumber"], 16), renewed.serial)
        self.assertIn((("organizationName", "Renewed"),), peer["subject"])

    def test_renewed_files_are_read_after_a_reload_that_found_nothing_changed(self):
        """A reload that finds the config and its files unchanged skips the next one without
        parsing when they are still the same; renewed certificate files, with the config's text
        the same, are read all the same."""
        self.start()
        self.wg.proc.send_signal(signal.SIGHUP)
        self.wg.wait_for_stderr(r"reload \(SIGHUP\) skipped: .* is unchanged")
        replace_files(self.wg.certs["example"], certs.get("example_renewed"))
        self.wg.wait_for_stderr(CERTS_RELOADED)
        self.wait_until_served("example_renewed")

    def test_broken_certificate_is_refused_and_the_old_one_keeps_serving(self):
        self.start()
        certs.write_garbage(self.wg.certs["example"].cert)
        self.wg.wait_for_stderr(refused_line(r"example\.pem"))
        self.assertEqual([self.served(self.port, "example.test") for _ in range(6)],
                         ["example"] * 6)
        # A good pair afterwards is taken.
        replace_files(self.wg.certs["example"], certs.get("example_renewed"))
        self.wg.wait_for_stderr(CERTS_RELOADED)
        self.wait_until_served("example_renewed")

    def test_key_that_does_not_match_is_refused_and_stays_out_of_the_log(self):
        self.start()
        other = certs.get("example_renewed")
        shutil.copyfile(other.key, self.wg.certs["example"].key + ".new")
        os.rename(self.wg.certs["example"].key + ".new", self.wg.certs["example"].key)
        # Which of the two files a mismatch names is not said.
        self.wg.wait_for_stderr(refused_line(r"example\.(pem|key)"))
        self.assertEqual([self.served(self.port, "example.test") for _ in range(6)],
                         ["example"] * 6)
        stderr = self.wg.stderr_text()
        self.assertNotIn("PRIVATE KEY", stderr)
        with open(other.key) as f:
            key_lines = [line for line in f.read().splitlines() if not line.startswith("-----")]
        self.assertFalse([line for line in key_lines if line in stderr],
                         "the private key appears in the log")

    def test_symlink_swap_is_seen(self):
        """The Kubernetes secret layout: certs/example.pem -> ..data/example.pem, and an update
        renames a new ..data symlink over the old one."""
        directory = tempfile.mkdtemp(prefix="tls-", dir=self.env.dir)
        cert_dir = os.path.join(directory, "certs")
        os.mkdir(cert_dir)

        def publish(generation, cert):
            data = os.path.join(cert_dir, f"..gen{generation}")
            os.mkdir(data)
            cert.copy_to(data, "example")
            os.symlink(f"..gen{generation}", os.path.join(cert_dir, "..data_tmp"))
            os.rename(os.path.join(cert_dir, "..data_tmp"), os.path.join(cert_dir, "..data"))

        publish(1, certs.get("example"))
        for ext in ("pem", "key"):
            os.symlink(f"..data/example.{ext}", os.path.join(cert_dir, f"example.{ext}"))
        port = free_port()
        text = proxy_config(port, {"app": [self.up.address]}, workers=2, tls={
            "certificates": [{"cert": "certs/example.pem", "key": "certs/example.key"}]})
        self.wg = self.env.waygate(text, port, config_path=os.path.join(directory, "w.yaml"))
        self.port = port
        self.assertEqual(self.served(port, "example.test"), "example")
        publish(2, certs.get("example_renewed"))
        self.wg.wait_for_stderr(CERTS_RELOADED)
        self.wait_until_served("example_renewed")

    def test_config_reload_naming_other_files_serves_them(self):
        self.start()
        certs.get("example_renewed").copy_to(os.path.dirname(self.wg.certs["example"].cert))
        with open(self.wg.config_path) as f:
            text = f.read()
        self.wg.write_config(text.replace("certs/example.", "certs/example_renewed."))
        self.wg.wait_for_reloads(1)
        self.wait_until_served("example_renewed")


class ClientCertificateTest(TlsTestCase):
    """client_ca on a listener: "required" (the default) and "optional"."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.required = cls.start_tls(cls.class_env, cls.up, ("default", "example"),
                                     client_ca="client_ca")
        cls.optional = cls.start_tls(cls.class_env, cls.up, ("default", "example"),
                                     client_ca="client_ca", client_cert="optional")

    def context(self, client=None, version=None):
        versions = (version, version) if version else None
        return ca_context(cert=certs.get(client) if client else None, versions=versions)

    def test_required_refuses_a_client_without_certificate(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version.name):
                resp, _, _ = exchange(self.required.port, self.context("alice", version),
                                      "example.test")
                self.assertEqual(resp.status, 200, "inconclusive: alice is refused too")
                self.assertRefused(self.required.port, self.context(None, version))

    def test_required_refuses_a_certificate_from_another_ca(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version.name):
                self.assertRefused(self.required.port, self.context("mallory", version))

    def test_verified_subject_goes_upstream(self):
        resp, _, _ = exchange(self.required.port, self.context("alice"), "example.test")
        self.assertEqual(resp.status, 200, resp)
        subjects = headers_seen(resp).get("x-client-cert-subject")
        self.assertEqual(subjects, [certs.get("alice").subject])
        self.assertIn("CN=alice", subjects[0])

    def test_subject_header_sent_by_the_client_is_not_passed_on(self):
        resp, _, _ = exchange(self.required.port, self.context("alice"), "example.test",
                              headers=[("X-Client-Cert-Subject", "CN=admin,O=Example")])
        self.assertEqual(headers_seen(resp).get("x-client-cert-subject"),
                         [certs.get("alice").subject])

    def test_optional_lets_a_client_without_certificate_through_without_subject(self):
        for headers in ((), [("X-Client-Cert-Subject", "CN=admin,O=Example")]):
            with self.subTest(headers=headers):
                resp, _, _ = exchange(self.optional.port, self.context(), "example.test",
                                      headers=headers)
                self.assertEqual(resp.status, 200, resp)
                self.assertNotIn("x-client-cert-subject", headers_seen(resp))

    def test_optional_passes_a_verified_subject_on(self):
        resp, _, _ = exchange(self.optional.port, self.context("alice"), "example.test")
        self.assertEqual(headers_seen(resp).get("x-client-cert-subject"),
                         [certs.get("alice").subject])


class HandshakeFailureTest(TlsTestCase):
    """Clients that do not speak TLS, or too slowly: each is closed, logged, and disturbs no
    one else."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_tls(cls.class_env, cls.up, ("default", "example"))
        cls.port = cls.wg.port

    def assertUndisturbed(self, conn):
        """conn (opened before) and a new connection are both served."""
        conn.send(request("GET", "/still", host="example.test"))
        self.assertEqual(conn.read_response().body, b"A GET /still\n")
        self.assertEqual(self.served(self.port, "example.test"), "example")

    def test_plain_http_gets_400_and_the_connection_is_closed(self):
        with HttpConnection(self.port) as conn:
            conn.send(request("GET", "/plain", host="example.test"))
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (400, PLAIN_HTTP_BODY), resp)
            self.assertTrue(conn.is_closed(), "the connection stayed open")
        self.assertEqual(self.up.stats()["paths"].get("/plain"), None)

    def test_garbage_handshake_is_closed_and_logged(self):
        before_conn = HttpsConnection(self.port, ca_context(), "example.test")
        self.addCleanup(before_conn.close)
        source = "127.0.0.21"
        with HttpConnection(self.port, source=source) as conn:
            conn.send(b"\x16\x03\x01\x00\x40" + b"\xfe" * 64)  # a handshake record of junk
            answer = conn.read_until_closed()
        self.assertFalse(answer.startswith(b"HTTP/"), answer)
        self.wg.wait_for_stderr(handshake_failed(source))
        self.assertUndisturbed(before_conn)

    def test_binary_garbage_is_closed(self):
        # Bytes that are no TLS record may be taken for plain HTTP (nginx does): what they get
        # back, and whether that is logged as a failed handshake, is left open.
        before_conn = HttpsConnection(self.port, ca_context(), "example.test")
        self.addCleanup(before_conn.close)
        with HttpConnection(self.port) as conn:
            conn.send(b"\x00\x01\x02\x03 this is no TLS " * 8)
            conn.read_until_closed()
        self.assertUndisturbed(before_conn)

    def test_silent_client_is_closed_after_tls_handshake_timeout(self):
        wg = self.start_tls(self.env, self.up, ("default", "example"),
                            timeouts={"tls_handshake": "300ms"})
        # A guard only: well above 300ms, well below the 10s default, so a waygate that ignores
        # the setting fails here.
        guard = 5.0
        before_conn = HttpsConnection(wg.port, ca_context(), "example.test")
        self.addCleanup(before_conn.close)
        for kind, data, source in (("nothing", b"", "127.0.0.22"),
                                   ("half a ClientHello", client_hello()[:40], "127.0.0.23")):
            with self.subTest(sent=kind):
                with HttpConnection(wg.port, source=source) as conn:
                    conn.send(data)
                    answer = conn.read_until_closed(timeout=guard)
                self.assertFalse(answer.startswith(b"HTTP/"), answer)
                wg.wait_for_stderr(handshake_failed(source))
        # The timeout covers the handshake only: a connection past it stays open.
        before_conn.send(request("GET", "/still", host="example.test"))
        self.assertEqual(before_conn.read_response().body, b"A GET /still\n")


class CheckTest(unittest.TestCase):
    """`waygate --check` on TLS configs: certificate problems at the line of their entry."""

    @classmethod
    def setUpClass(cls):
        if not os.access(WAYGATE_BIN, os.X_OK):
            raise unittest.SkipTest(f"waygate binary not found at {WAYGATE_BIN}")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="waygate-tls-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.mkdir(os.path.join(self.dir, "certs"))
        for name in ("default", "example", "example_ec", "alice"):
            certs.get(name).copy_to(os.path.join(self.dir, "certs"))
        for name in ("ca", "client_ca"):
            shutil.copyfile(certs.get(name).cert, os.path.join(self.dir, "certs", name + ".pem"))

    def check(self, tls, cluster_tls=None, timeouts=None):
        spec = {"endpoints": ["127.0.0.1:9"]}
        if cluster_tls is not None:
            spec["tls"] = cluster_tls
        text = proxy_config(free_port(), {"app": spec}, timeouts=timeouts, tls=tls)
        out = check_config(self.dir, text, "waygate.yaml")
        path = os.path.join(self.dir, "waygate.yaml")
        return text, path, out.returncode, out.stdout + out.stderr

    def lines_reported(self, output, path):
        return {int(m.group(1)) for m in re.finditer(rf"^{re.escape(path)}:(\d+):(\d+): ",
                                                     output, re.M)}

    @staticmethod
    def line_of(text, needle):
        return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)

    def test_every_tls_setting_of_the_contract_is_accepted(self):
        _, _, code, output = self.check(
            {"certificates": [{"cert": "certs/default.pem", "key": "certs/default.key"},
                              {"cert": "certs/example_ec.pem", "key": "certs/example_ec.key"}],
             "min_version": "1.2", "ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20",
             "client_ca": "certs/client_ca.pem", "client_cert": "required", "hsts": "365d"},
            cluster_tls={"sni": "api.internal", "verify": True, "ca": "certs/ca.pem",
                         "cert": "certs/alice.pem", "key": "certs/alice.key"},
            timeouts={"tls_handshake": "10s"})
        self.assertEqual(code, 0, output)

    def test_empty_cluster_tls_is_accepted(self):
        _, _, code, output = self.check(
            {"certificates": [{"cert": "certs/default.pem", "key": "certs/default.key"}]},
            cluster_tls={})
        self.assertEqual(code, 0, output)

    def test_missing_certificate_is_reported_at_its_entry(self):
        text, path, code, output = self.check({"certificates": [
            {"cert": "certs/default.pem", "key": "certs/default.key"},
            {"cert": "certs/missing.pem", "key": "certs/example.key"}]})
        self.assertEqual(code, 1, output)
        self.assertIn(self.line_of(text, "certs/missing.pem"), self.lines_reported(output, path),
                      output)

    def test_missing_key_is_reported_at_its_entry(self):
        text, path, code, output = self.check({"certificates": [
            {"cert": "certs/example.pem", "key": "certs/missing.key"}]})
        self.assertEqual(code, 1, output)
        self.assertIn(self.line_of(text, "certs/missing.key"), self.lines_reported(output, path),
                      output)

    def test_key_of_another_certificate_is_reported_at_the_entry(self):
        text, path, code, output = self.check({"certificates": [
            {"cert": "certs/example.pem", "key": "certs/example_ec.key"}]})
        self.assertEqual(code, 1, output)
        entry = {self.line_of(text, "certs/example.pem"), self.line_of(text, "example_ec.key")}
        self.assertTrue(entry & self.lines_reported(output, path), output)


class UpstreamTlsTest(TlsTestCase):
    """Clusters with tls: nginx terminates TLS in front of upstream A (and tells A the SNI name
    it got, X-Tls-Sni); the listener is plain HTTP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.class_env
        cls.up = env.upstream("A")
        cls.backend = env.tls_upstream(cls.up, certs.get("backend"), "backend")
        cls.untrusted = env.tls_upstream(cls.up, certs.get("backend_untrusted"), "untrusted")
        cls.expired = env.tls_upstream(cls.up, certs.get("backend_expired"), "expired")
        cls.by_ip = env.tls_upstream(cls.up, certs.get("backend_ip"), "ip")

    def start(self, endpoints, tls, **kwargs):
        spec = {"endpoints": [getattr(e, "address", e) for e in endpoints], "tls": tls, **kwargs}
        self.wg = self.start_proxy(self.env, {"app": spec})
        return self.wg

    def assertUpstreamTlsFailure(self, target):
        resp = self.get(self.wg.port, target)
        self.assertErrorResponse(resp, 502)
        self.wg.wait_for_log(rf'"GET {re.escape(target)} HTTP/1\.1" 502 .*error=upstream-tls')
        self.assertNotIn(target, self.up.stats()["paths"], "the request reached the upstream")

    def test_verified_upstream_answers_with_the_configured_sni(self):
        self.start([self.backend], {"sni": "backend.test", "ca": ca_file()})
        resp = self.get(self.wg.port, "/headers")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(headers_seen(resp).get("x-tls-sni"), ["backend.test"])
        with HttpConnection(self.wg.port) as conn:  # one client connection, several requests
            for i in range(3):
                conn.send(request("GET", f"/ka/{i}"))
                self.assertEqual(conn.read_response().body, f"A GET /ka/{i}\n".encode())

    def test_new_upstream_connections_resume_the_tls_session(self):
        # nginx closes each connection after one response: every request needs a new one.
        one_shot = self.env.tls_upstream(self.up, certs.get("backend"), "one-shot",
                                         requests_per_connection=1)
        self.start([one_shot], {"sni": "backend.test", "ca": ca_file()})
        reused = []
        for i in range(3):
            resp = self.get(self.wg.port, f"/headers?{i}")
            self.assertEqual(resp.status, 200, resp)
            reused += headers_seen(resp).get("x-tls-reused", ["missing"])
        # The first handshake is full; the tickets it brought let the next connections resume.
        self.assertEqual(reused, [".", "r", "r"])

    def test_upstream_signed_by_another_ca_is_502(self):
        self.start([self.untrusted], {"sni": "backend.test", "ca": ca_file()})
        self.assertUpstreamTlsFailure("/untrusted")

    def test_verify_false_accepts_an_upstream_signed_by_another_ca(self):
        self.start([self.untrusted], {"sni": "backend.test", "ca": ca_file(), "verify": False})
        self.assertEqual(self.get(self.wg.port, "/unverified").body, b"A GET /unverified\n")

    def test_upstream_certificate_for_another_name_is_502(self):
        self.start([self.backend], {"sni": "other.test", "ca": ca_file()})
        self.assertUpstreamTlsFailure("/other-name")

    def test_expired_upstream_certificate_is_502(self):
        self.start([self.expired], {"sni": "backend.test", "ca": ca_file()})
        self.assertUpstreamTlsFailure("/expired")

    def test_ip_endpoint_gets_no_sni_and_is_verified_against_its_address(self):
        self.start([self.by_ip], {"ca": ca_file()})
        resp = self.get(self.wg.port, "/headers")
        self.assertEqual(resp.status, 200, resp)
        self.assertNotIn("x-tls-sni", headers_seen(resp))
        # A certificate for a name does not pass for the address.
        self.start([self.backend], {"ca": ca_file()})
        self.assertUpstreamTlsFailure("/name-for-an-address")

    def test_endpoint_host_name_is_the_default_sni(self):
        dns = self.env.dns_server(hosts={"backend.test": [HOST]})
        spec = {"endpoints": [f"backend.test:{self.backend.port}"], "tls": {"ca": ca_file()}}
        self.wg = self.start_proxy(self.env, {"app": spec}, top={"dns": {"resolver": dns.address}})
        resp = wait_until(lambda: (r := self.get(self.wg.port, "/headers")).status == 200 and r,
                          POLL_TIMEOUT, 0.05, "the endpoint name to resolve")
        self.assertEqual(headers_seen(resp).get("x-tls-sni"), ["backend.test"])

    def test_failed_verification_is_retried_on_another_endpoint(self):
        self.start([self.untrusted, self.backend], {"sni": "backend.test", "ca": ca_file()})
        for i in range(6):
            resp = self.get(self.wg.port, f"/retried/{i}")
            self.assertEqual((resp.status, resp.body), (200, f"A GET /retried/{i}\n".encode()),
                             resp)

    def test_client_certificate_is_presented_to_the_upstream(self):
        mtls = self.env.tls_upstream(self.up, certs.get("backend"), "mtls",
                                     client_ca=certs.get("client_ca").cert)
        alice = certs.get("alice")
        self.start([mtls], {"sni": "backend.test", "ca": ca_file(), "cert": alice.cert,
                            "key": alice.key})
        resp = self.get(self.wg.port, "/headers")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(headers_seen(resp).get("x-client-dn"), [alice.subject])

    def test_health_checks_speak_tls(self):
        up = self.env.upstream("H")
        backend = self.env.tls_upstream(up, certs.get("backend"), "checked")
        check = {"http": {"path": "/healthz"}, "interval": "300ms", "timeout": "300ms",
                 "healthy_threshold": 2, "unhealthy_threshold": 2, "initial": "unhealthy"}
        self.start([backend], {"sni": "backend.test", "ca": ca_file()}, health_check=check)
        self.wg.wait_for_stderr(health_line("app", backend.address, "healthy"), 1, POLL_TIMEOUT)
        self.assertGreater(up.stats()["health_checks"], 0)
        self.assertEqual(self.get(self.wg.port, "/checked").body, b"H GET /checked\n")

    def test_health_checks_verify_the_upstream_certificate(self):
        check = {"http": {"path": "/healthz"}, "interval": "300ms", "timeout": "300ms",
                 "healthy_threshold": 2, "unhealthy_threshold": 2}
        self.start([self.untrusted], {"sni": "backend.test", "ca": ca_file()},
                   health_check=check)
        self.wg.wait_for_stderr(health_line("app", self.untrusted.address, "unhealthy"), 1,
                                POLL_TIMEOUT)


if __name__ == "__main__":
    unittest.main()
