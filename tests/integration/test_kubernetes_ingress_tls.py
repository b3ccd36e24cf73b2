"""An Ingress's spec.tls: the kubernetes.io/tls Secret it names is served by SNI on waygate's TLS
listener beside the listener's own certificate, a rotated Secret on the next handshake, and a
broken one is refused with a warning while the certificate read before serves on. The cluster
(API server stand-in, Services and Pods) is test_kubernetes_ingress.py's; the listener here is
TLS, its own certificate "default" (the one clients without a matching SNI get).
"""

import unittest

import certs
from harness import https_get, proxy_config, tls_context, wait_until
from kube_api_server import tls_secret
from kube_routes_case import POLL_TIMEOUT
from test_kubernetes_ingress import NAMESPACE, KubernetesIngressCase


def pem(cert):
    with open(cert.cert) as f:
        chain = f.read()
    with open(cert.key) as f:
        return chain, f.read()


class KubernetesIngressTlsTest(KubernetesIngressCase):
    def config_text(self, file_hosts):
        top = {"kubernetes": {"kubeconfig": self.kubeconfig},
               "routes_source": {"kubernetes": {"ingress_class": "waygate"}}}
        routes = [{"hosts": file_hosts, "paths": [{"prefix": "/", "cluster": "file"}]}]
        default = certs.get("default")
        return proxy_config(self.port, {"file": [self.pods[2].address]}, routes=routes, top=top,
                            tls={"certificates": [{"cert": default.cert, "key": default.key}]})

    def secret(self, name, cert, key=None):
        chain, own_key = pem(cert)
        self.api.apply(tls_secret(NAMESPACE, name, chain, own_key if key is None else key))

    def served(self, server_hostname):
        """Which test certificate a handshake with this SNI gets, and the answer to a GET."""
        response, tls = https_get(self.port, "/", tls_context(), server_hostname=server_hostname,
                                  host=server_hostname or "example.test",
                                  headers=[("Connection", "close")])
        return tls.served, response.header("x-upstream-name") or response.status

    def wait_served(self, server_hostname, expected):
        last = []

        def settled():
            last[:] = [self.served(server_hostname)[0]]
            return last[0] == expected
        try:
            wait_until(settled, POLL_TIMEOUT, 0.05, "the certificate")
        except AssertionError:
            raise AssertionError(f"SNI {server_hostname}: waited for {expected}, the last "
                                 f"served was {last}")

    def tls_ingress(self):
        self.ingress("shop", [("example.test", [("Prefix", "/", "web", 80)])],
                     tls=[(["example.test", "www.example.test"], "example-tls")])

    def test_the_secret_an_ingress_names_is_served_by_sni(self):
        self.tls_ingress()
        self.warned(f"Secret {NAMESPACE}/example-tls (spec.tls of Ingress {NAMESPACE}/shop) is not "
                    "found")
        self.assertEqual("default", self.served("example.test")[0])
        self.secret("example-tls", certs.get("example"))
        self.wait_served("example.test", "example")
        # And routed, once the Service's endpoints (a watch of their own) have come too.
        wait_until(lambda: self.served("example.test")[1] in {"pod0", "pod1"}, POLL_TIMEOUT, 0.05,
                   "example.test routed to the Service's Pods")
        self.assertEqual("example", self.served("www.example.test")[0])  # its other name
        # Other names and clients without SNI get the listener's own.
        self.assertEqual("default", self.served("other.test")[0])
        self.assertEqual("default", self.served(None)[0])
        # A Secret no Ingress names is not served; one that stops being named stops serving.
        self.secret("wild-tls", certs.get("wildcard"))
        self.api.delete(NAMESPACE, "shop", kind="Ingress")
        self.wait_served("example.test", "default")
        self.assertEqual("default", self.served("a.wild.test")[0])

    def test_a_rotated_secret_is_served_on_the_next_handshake(self):
        self.secret("example-tls", certs.get("example"))
        self.tls_ingress()
        self.wait_served("example.test", "example")
        self.secret("example-tls", certs.get("example_renewed"))
        self.wait_served("example.test", "example_renewed")

    def test_a_broken_secret_keeps_the_certificate_read_before(self):
        self.secret("example-tls", certs.get("example"))
        self.tls_ingress()
        self.wait_served("example.test", "example")
        # Renewed, but with the key of another certificate.
        _, other_key = pem(certs.get("wildcard"))
        self.secret("example-tls", certs.get("example_renewed"), key=other_key)
        self.warned(f"Secret {NAMESPACE}/example-tls (spec.tls of Ingress {NAMESPACE}/shop): "
                    "tls.key: the private key does not match the certificate in tls.crt; the "
                    "certificate read from it before serves on")
        self.assertEqual("example", self.served("example.test")[0])
        self.api.apply(tls_secret(NAMESPACE, "example-tls", "not a certificate", other_key))
        self.warned(f"Secret {NAMESPACE}/example-tls (spec.tls of Ingress {NAMESPACE}/shop): "
                    "tls.crt")
        self.assertEqual("example", self.served("example.test")[0])
        # Fixed: served.
        self.secret("example-tls", certs.get("example_renewed"))
        self.wait_served("example.test", "example_renewed")
        # The private key never reaches the log.
        self.assertNotIn(other_key.splitlines()[1], self.wg.stderr_text())


if __name__ == "__main__":
    unittest.main()
