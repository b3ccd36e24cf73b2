"""`routes_source.kubernetes.publish_address`: waygate writes its address into the
status.loadBalancer.ingress of each Ingress it routes (a merge patch on the status subresource of
the API server stand-in), writes it again when something else changes it, and leaves Ingresses of
other classes and those it skips alone. The cluster is test_kubernetes_ingress.py's.
"""

import json
import unittest

from harness import proxy_config, wait_until
from kube_routes_case import POLL_TIMEOUT
from test_kubernetes_ingress import CLASS, NAMESPACE, KubernetesIngressCase

ADDRESS = "203.0.113.7"


class KubernetesIngressStatusTest(KubernetesIngressCase):
    def config_text(self, file_hosts):
        top = {"kubernetes": {"kubeconfig": self.kubeconfig},
               "routes_source": {"kubernetes": {"ingress_class": CLASS,
                                                "publish_address": ADDRESS}}}
        routes = [{"hosts": file_hosts, "paths": [{"prefix": "/", "cluster": "file"}]}]
        return proxy_config(self.port, {"file": [self.pods[2].address]}, routes=routes, top=top)

    def status_of(self, name):
        with self.api.lock:
            return self.api.objects[("Ingress", NAMESPACE, name)].get("status")

    def wait_published(self, name):
        wanted = {"loadBalancer": {"ingress": [{"ip": ADDRESS}]}}
        wait_until(lambda: self.status_of(name) == wanted, POLL_TIMEOUT, 0.05,
                   f"the status of {name}")

    def patches(self):
        return [r for r in self.api.requests_seen() if r[0] == "PATCH"]

    def test_the_address_is_written_into_the_ingresses_routed(self):
        self.ingress("theirs", [("theirs.test", [("Prefix", "/", "web", 80)])],
                     class_name="other")
        self.ingress("broken", [("broken.test", [("Regex", "/x", "web", 80)])])
        self.ingress("shop", [("shop.test", [("Prefix", "/", "web", 80)])])
        self.wait_published("shop")
        patch = self.patches()[0]
        self.assertEqual(f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/shop/status",
                         patch[1])
        self.assertEqual({"status": {"loadBalancer": {"ingress": [{"ip": ADDRESS}]}}},
                         json.loads(patch[2]))
        self.assertEqual(200, patch[3])
        # An update of the Ingress keeps its status: no second patch is needed, none is sent.
        self.ingress("shop", [("shop.test", [("Prefix", "/", "api", 80)])])
        self.wait_for("shop.test", "/", "pod2")
        self.assertEqual(1, len(self.patches()))
        self.assertEqual({"loadBalancer": {}}, self.status_of("theirs"))
        self.assertEqual({"loadBalancer": {}}, self.status_of("broken"))

    def test_a_status_changed_by_someone_else_is_written_again(self):
        self.ingress("shop", [("shop.test", [("Prefix", "/", "web", 80)])])
        self.wait_published("shop")
        self.api.patch_status("Ingress", NAMESPACE, "shop",
                              {"status": {"loadBalancer": {"ingress": [{"ip": "10.9.9.9"}]}}})
        self.wait_published("shop")
        self.assertEqual(2, len(self.patches()))


if __name__ == "__main__":
    unittest.main()
