"""The Kubernetes API server stand-in (kube_api_server.py) against Debian's python3-kubernetes
client, over TLS with a bearer token: what the client library makes of its LIST, WATCH (with a
resource_version, bookmarks, the server ending it) and 410 answers is what it makes of a real API
server's, so waygate's tests against the stand-in test the real protocol. kubectl, when installed,
reads its discovery documents and lists the Gateway API's objects."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

import certs
from kube_api_server import (KubeApiServer, endpoint_slice, gateway, gateway_class, http_route,
                             http_rule, ingress, ingress_class, service, write_kubeconfig)

try:
    import kubernetes
except ImportError:  # python3-kubernetes (scripts/install-deps.sh)
    kubernetes = None

SELECTOR = "kubernetes.io/service-name=web"


@unittest.skipIf(kubernetes is None, "python3-kubernetes is not installed")
class KubeApiServerFidelityTest(unittest.TestCase):
    def setUp(self):
        self.server = KubeApiServer(token="s3cret", cert=certs.get("kube_apiserver")).start()
        self.addCleanup(self.server.stop)
        self.api = self.client("s3cret")

    def client(self, token):
        configuration = kubernetes.client.Configuration()
        configuration.host = self.server.url
        configuration.ssl_ca_cert = certs.get("ca").cert
        configuration.api_key = {"authorization": token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        self.api_client = kubernetes.client.ApiClient(configuration)
        return kubernetes.client.DiscoveryV1Api(self.api_client)

    def test_list_gives_typed_slices_of_the_service_and_a_resource_version(self):
        self.server.apply(endpoint_slice("default", "web-abc12", "web", ["10.0.0.1", "10.0.0.2"]))
        self.server.apply(endpoint_slice("default", "api-def34", "api", ["10.0.1.1"]))
        self.server.apply(endpoint_slice("other", "web-ghi56", "web", ["10.0.2.1"]))
        listed = self.api.list_namespaced_endpoint_slice("default", label_selector=SELECTOR)
        self.assertEqual(["web-abc12"], [s.metadata.name for s in listed.items])
        slice_ = listed.items[0]
        self.assertEqual("IPv4", slice_.address_type)
        self.assertEqual([["10.0.0.1"], ["10.0.0.2"]], [e.addresses for e in slice_.endpoints])
        self.assertTrue(slice_.endpoints[0].conditions.ready)
        self.assertEqual("Pod", slice_.endpoints[0].target_ref.kind)
        self.assertEqual([("http", 8080, "TCP")],
                         [(p.name, p.port, p.protocol) for p in slice_.ports])
        self.assertEqual("web", slice_.metadata.labels["kubernetes.io/service-name"])
        self.assertTrue(slice_.metadata.uid)
        self.assertTrue(int(listed.metadata.resource_version) > 0)

    def test_watch_from_a_resource_version_gives_the_changes_since(self):
        self.server.apply(endpoint_slice("default", "web-abc12", "web", ["10.0.0.1"]))
        version = self.api.list_namespaced_endpoint_slice(
            "default", label_selector=SELECTOR).metadata.resource_version
        self.server.apply(endpoint_slice("default", "web-abc12", "web", ["10.0.0.1", "10.0.0.2"]))
        self.server.apply(endpoint_slice("default", "web-xyz98", "web", ["10.0.0.3"]))
        self.server.apply(endpoint_slice("default", "api-def34", "api", ["10.0.1.1"]))
        self.server.delete("default", "web-abc12")
        watch = kubernetes.watch.Watch()
        events = [(e["type"], e["object"].metadata.name) for e in watch.stream(
            self.api.list_namespaced_endpoint_slice, "default", label_selector=SELECTOR,
            resource_version=version, timeout_seconds=1)]
        self.assertEqual([("MODIFIED", "web-abc12"), ("ADDED", "web-xyz98"),
                          ("DELETED", "web-abc12")], events)
        # The library keeps the last version it saw, to resume from.
        self.assertEqual(str(self.server.resource_version), watch.resource_version)

    def test_watch_delivers_bookmarks_when_asked_for(self):
        version = self.api.list_namespaced_endpoint_slice(
            "default", label_selector=SELECTOR).metadata.resource_version
        self.server.apply(endpoint_slice("default", "api-def34", "api", ["10.0.1.1"]))
        events = []

        def watch():
            for event in kubernetes.watch.Watch().stream(
                    self.api.list_namespaced_endpoint_slice, "default", label_selector=SELECTOR,
                    resource_version=version, allow_watch_bookmarks=True, timeout_seconds=2):
                events.append(event)

        thread = threading.Thread(target=watch)
        thread.start()
        self.server.wait_for_watch()
        self.server.bookmark()
        thread.join()
        self.assertEqual(["BOOKMARK"], [e["type"] for e in events])
        self.assertEqual(str(self.server.resource_version),
                         events[0]["raw_object"]["metadata"]["resourceVersion"])

    def test_a_compacted_resource_version_is_410_as_an_error_event(self):
        version = self.api.list_namespaced_endpoint_slice(
            "default", label_selector=SELECTOR).metadata.resource_version
        self.server.apply(endpoint_slice("default", "web-abc12", "web", ["10.0.0.1"]))
        self.server.compact()
        with self.assertRaises(kubernetes.client.ApiException) as raised:
            list(kubernetes.watch.Watch().stream(
                self.api.list_namespaced_endpoint_slice, "default", label_selector=SELECTOR,
                resource_version=version, timeout_seconds=1))
        self.assertEqual(410, raised.exception.status)
        self.assertIn("too old resource version", raised.exception.reason)

    def test_a_compacted_resource_version_is_410_as_http_status(self):
        self.server.expired_as = "status"
        version = self.api.list_namespaced_endpoint_slice(
            "default", label_selector=SELECTOR).metadata.resource_version
        self.server.apply(endpoint_slice("default", "web-abc12", "web", ["10.0.0.1"]))
        self.server.compact()
        with self.assertRaises(kubernetes.client.ApiException) as raised:
            list(kubernetes.watch.Watch().stream(
                self.api.list_namespaced_endpoint_slice, "default", label_selector=SELECTOR,
                resource_version=version, timeout_seconds=1))
        self.assertEqual(410, raised.exception.status)

    def test_a_wrong_token_is_401(self):
        with self.assertRaises(kubernetes.client.ApiException) as raised:
            self.client("wrong").list_namespaced_endpoint_slice("default")
        self.assertEqual(401, raised.exception.status)


    def test_ingresses_classes_and_services_list_and_watch_typed(self):
        networking = kubernetes.client.NetworkingV1Api(self.api_client)
        core = kubernetes.client.CoreV1Api(self.api_client)
        self.server.apply(service("shop", "web", [("http", 80, 8080)]))
        self.server.apply(ingress_class("waygate", default=True))
        self.server.apply(ingress("shop", "web", [("shop.test", [("Prefix", "/", "web", 80)])],
                                  class_name="waygate", default_backend=("web", "http")))
        services = core.list_service_for_all_namespaces()
        self.assertEqual([("web", "http", 80, 8080)],
                         [(s.metadata.name, p.name, p.port, p.target_port)
                          for s in services.items for p in s.spec.ports])
        classes = networking.list_ingress_class()
        self.assertEqual("true", classes.items[0].metadata.annotations[
            "ingressclass.kubernetes.io/is-default-class"])
        listed = networking.list_ingress_for_all_namespaces()
        spec = listed.items[0].spec
        self.assertEqual("waygate", spec.ingress_class_name)
        self.assertEqual("http", spec.default_backend.service.port.name)
        path = spec.rules[0].http.paths[0]
        self.assertEqual(("shop.test", "Prefix", "/", "web", 80),
                         (spec.rules[0].host, path.path_type, path.path,
                          path.backend.service.name, path.backend.service.port.number))
        self.server.delete("shop", "web", kind="Ingress")
        events = [(e["type"], e["object"].metadata.name) for e in kubernetes.watch.Watch().stream(
            networking.list_namespaced_ingress, "shop",
            resource_version=listed.metadata.resource_version, timeout_seconds=1)]
        self.assertEqual([("DELETED", "web")], events)

    def test_gateway_api_objects_list_and_watch_as_custom_objects(self):
        custom = kubernetes.client.CustomObjectsApi(self.api_client)
        group, version = "gateway.networking.k8s.io", "v1"
        self.server.apply(gateway_class("waygate"))
        self.server.apply(gateway("shop", "gw", "waygate", [("http", 80, "*.shop.test")]))
        self.server.apply(http_route("shop", "web", ["gw"], ["a.shop.test"],
                                     [http_rule([("web", 80, 90), ("api", 80, 10)])]))
        classes = custom.list_cluster_custom_object(group, version, "gatewayclasses")
        self.assertEqual(["waygate"], [c["metadata"]["name"] for c in classes["items"]])
        self.assertEqual("waygate.dev/gateway-controller",
                         classes["items"][0]["spec"]["controllerName"])
        gateways = custom.list_namespaced_custom_object(group, version, "shop", "gateways")
        self.assertEqual("GatewayList", gateways["kind"])
        self.assertEqual("*.shop.test", gateways["items"][0]["spec"]["listeners"][0]["hostname"])
        routes = custom.list_cluster_custom_object(group, version, "httproutes")
        rule = routes["items"][0]["spec"]["rules"][0]
        # The CRD's defaults, as the API server fills them in.
        self.assertEqual([{"path": {"type": "PathPrefix", "value": "/"}}], rule["matches"])
        self.assertEqual([90, 10], [ref["weight"] for ref in rule["backendRefs"]])
        self.server.delete("shop", "web", kind="HTTPRoute")
        events = [(e["type"], e["object"]["metadata"]["name"]) for e in kubernetes.watch.Watch()
                  .stream(custom.list_namespaced_custom_object, group, version, "shop",
                          "httproutes", resource_version=routes["metadata"]["resourceVersion"],
                          timeout_seconds=1)]
        self.assertEqual([("DELETED", "web")], events)

    def test_a_status_merge_patch_changes_the_status_alone(self):
        custom = kubernetes.client.CustomObjectsApi(self.api_client)
        group, version = "gateway.networking.k8s.io", "v1"
        created = self.server.apply(http_route("shop", "web", ["gw"], ["shop.test"],
                                               [http_rule([("web", 80)])]))
        parent = {"parentRef": {"name": "gw"}, "controllerName": "waygate.dev/gateway-controller",
                  "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]}
        patched = custom.patch_namespaced_custom_object_status(
            group, version, "shop", "httproutes", "web",
            {"status": {"parents": [parent]}, "spec": {"hostnames": ["ignored.test"]}})
        self.assertEqual([parent], patched["status"]["parents"])
        self.assertEqual(["shop.test"], patched["spec"]["hostnames"])  # the status alone
        self.assertEqual(created["metadata"]["generation"], patched["metadata"]["generation"])
        self.assertGreater(int(patched["metadata"]["resourceVersion"]),
                           int(created["metadata"]["resourceVersion"]))
        events = [(e["type"], e["object"]["status"]["parents"]) for e in kubernetes.watch.Watch()
                  .stream(custom.list_namespaced_custom_object, group, version, "shop",
                          "httproutes", resource_version=created["metadata"]["resourceVersion"],
                          timeout_seconds=1)]
        self.assertEqual([("MODIFIED", [parent])], events)
        # A patch made against an older version of the object is refused.
        with self.assertRaises(kubernetes.client.ApiException) as raised:
            custom.patch_namespaced_custom_object_status(
                group, version, "shop", "httproutes", "web",
                {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                 "status": {"parents": []}})
        self.assertEqual(409, raised.exception.status)
        # null removes a member.
        cleared = custom.patch_namespaced_custom_object_status(
            group, version, "shop", "httproutes", "web", {"status": {"parents": None}})
        self.assertEqual({}, cleared["status"])

    @unittest.skipIf(shutil.which("kubectl") is None, "kubectl is not installed")
    def test_kubectl_finds_and_lists_the_gateway_api_kinds(self):
        self.server.apply(gateway_class("waygate"))
        self.server.apply(http_route("shop", "web", ["gw"], ["shop.test"],
                                     [http_rule([("web", 80)])]))
        home = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, home)
        kubeconfig = write_kubeconfig(os.path.join(home, "kubeconfig"), self.server.url,
                                      token="s3cret", ca=certs.get("ca").cert)

        def kubectl(*args):
            done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args],
                                  capture_output=True, text=True, timeout=60,
                                  env=dict(os.environ, HOME=home))
            self.assertEqual(0, done.returncode, done.stderr)
            return done.stdout

        # By plural name alone: found through /apis and the group version's resource list.
        listed = json.loads(kubectl("get", "httproutes", "-A", "-o", "json"))
        self.assertEqual([("shop", "web")], [(i["metadata"]["namespace"], i["metadata"]["name"])
                                             for i in listed["items"]])
        self.assertIn("waygate", kubectl("get", "gatewayclasses.gateway.networking.k8s.io"))


if __name__ == "__main__":
    unittest.main()
