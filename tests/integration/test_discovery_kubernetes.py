"""Cluster endpoints from a Kubernetes Service (`discovery: kubernetes`): waygate lists and watches
the Service's EndpointSlices on an API server and routes to their ready endpoints. The API server
is the project's stand-in (kube_api_server.py, checked against the Kubernetes client library in
test_kubernetes_api_server.py), over TLS with a test CA and a bearer token read from a file. Each Pod is
an upstream.py on an address of its own (127.0.0.10 and up), all on the same port, as Pods of one
Deployment are.

Log lines are used only to know that waygate has noticed a failure (the API server gone, a token
refused); the API server's own record of requests tells that a LIST or WATCH was made.
"""

import os
import re
import urllib.request

import certs
from harness import (WaygateTestCase, check_config, free_port, proxy_config, upstream_answers,
                     wait_for_answers)
from kube_api_server import KubeApiServer, endpoint_slice, start_pods, write_kubeconfig

POLL_TIMEOUT = 10.0  # a failure guard for "the change applied", not a timing expectation
# After the API server comes back or accepts the token again, waygate's reconnect backoff (up to
# 10 s between tries) comes first.
RECONNECT_TIMEOUT = 30.0
NAMESPACE = "shop"
SERVICE = "web"
PODS = 10


def api_warning(server):
    """A warn line of waygate's naming the API server."""
    return rf"(?m)^.* warn .*{re.escape(server.url)}\b.*$"


class KubernetesDiscoveryTest(WaygateTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pod_port, cls.pods = start_pods(cls.class_env, PODS)

    def setUp(self):
        super().setUp()
        self.token_file = os.path.join(self.env.dir, "token")
        with open(self.token_file, "w") as f:
            f.write("s3cret\n")
        self.api = KubeApiServer(token="s3cret", cert=certs.get("kube_apiserver")).start()
        self.addCleanup(self.api.stop)
        # Another Service's slice in the same namespace, and one of a Service of the same name in
        # another namespace: neither is the cluster's.
        self.api.apply(endpoint_slice(NAMESPACE, "api-x7k2p", "api", [self.pods[9].host]))
        self.api.apply(endpoint_slice("other", "web-q8d4m", SERVICE, [self.pods[8].host]))

    def kubeconfig(self):
        return write_kubeconfig(os.path.join(self.env.dir, "kubeconfig"), self.api.url,
                                token_file=self.token_file, ca=certs.get("ca").cert,
                                namespace=NAMESPACE)

    def start(self, port="http"):
        cluster = {"discovery": {"kubernetes": {"service": f"{NAMESPACE}/{SERVICE}",
                                                "port": port}}}
        self.port = free_port()
        self.admin_port = free_port()
        top = {"kubernetes": {"kubeconfig": self.kubeconfig()},
               "admin": {"address": f"127.0.0.1:{self.admin_port}"}}
        self.wg = self.env.waygate(proxy_config(self.port, {"web": cluster}, top=top),
                                   self.port)
        self.api.wait_for_watch()

    def slice(self, name, pods, **kwargs):
        return endpoint_slice(NAMESPACE, name, SERVICE, [self.pods[i].host for i in pods],
                              port=self.pod_port, **kwargs)

    def names(self, pods):
        return [f"pod{i}" for i in pods]

    def wait_for(self, *expected, timeout=POLL_TIMEOUT):
        # One worker: its round robin sends one of every 2n requests to each endpoint it has, so
        # an endpoint that should be gone is seen (with two, a sample may miss it by chance).
        return wait_for_answers(self.port, expected, timeout)

    def test_ready_endpoints_of_the_service_route_traffic(self):
        # Pod 3 is not ready (failing its readiness probe): listed, but not routed to.
        self.api.apply(self.slice("web-abc12", [0, 1, 2, 3], not_ready=[self.pods[3].host]))
        self.start()
        self.wait_for(*self.names([0, 1, 2]))

    def test_the_port_is_found_by_number_too(self):
        self.api.apply(self.slice("web-abc12", [0, 1]))
        self.start(port=self.pod_port)
        self.wait_for(*self.names([0, 1]))

    def test_scaling_from_3_to_10_to_0_pods_follows_the_slices(self):
        self.api.apply(self.slice("web-abc12", [0, 1, 2]))
        self.start()
        self.wait_for(*self.names([0, 1, 2]))
        # Scaled to 10: the first slice grows and a second one holds the rest.
        self.api.apply(self.slice("web-abc12", [0, 1, 2, 3, 4, 5]))
        self.api.apply(self.slice("web-def34", [6, 7, 8, 9]))
        self.wait_for(*self.names(range(10)))
        # Scaled to 0: the second slice is deleted, the first has no endpoints left.
        self.api.delete(NAMESPACE, "web-def34")
        empty = self.slice("web-abc12", [])
        empty["endpoints"] = None  # as the API server returns an empty list (omitted)
        del empty["endpoints"]
        self.api.apply(empty)
        self.wait_for(503)

    def test_a_terminating_endpoint_gets_no_new_requests(self):
        # publishNotReadyAddresses: the controller keeps terminating endpoints ready, so only
        # their terminating condition tells waygate to stop sending them new requests.
        self.api.apply(self.slice("web-abc12", [0, 1, 2], publish_not_ready=True))
        self.start()
        self.wait_for(*self.names([0, 1, 2]))
        self.api.apply(self.slice("web-abc12", [0, 1, 2], publish_not_ready=True,
                                  terminating=[self.pods[1].host]))
        self.wait_for(*self.names([0, 2]))

    def test_the_last_endpoints_serve_while_the_api_server_is_away_and_changes_follow(self):
        self.api.apply(self.slice("web-abc12", [0, 1]))
        self.start()
        self.wait_for(*self.names([0, 1]))
        self.api.stop()
        self.wg.wait_for_stderr(api_warning(self.api))
        self.assertEqual(set(self.names([0, 1])), set(upstream_answers(self.port, 8)))
        # Changed while waygate cannot see it; the watch resumes from where it was.
        self.api.apply(self.slice("web-abc12", [2, 3]))
        lists = len(self.api.requests_seen("list"))
        self.api.start()
        self.wait_for(*self.names([2, 3]), timeout=RECONNECT_TIMEOUT)
        self.assertEqual(lists, len(self.api.requests_seen("list")), "a re-list; no resume")
        # And it follows changes made after it came back.
        self.api.wait_for_watch()
        self.api.apply(self.slice("web-abc12", [4]))
        self.wait_for(*self.names([4]))

    def compaction_forces_a_relist(self, expired_as):
        self.api.expired_as = expired_as
        self.api.apply(self.slice("web-abc12", [0, 1]))
        self.start()
        self.wait_for(*self.names([0, 1]))
        self.api.stop()
        self.wg.wait_for_stderr(api_warning(self.api))
        # Changed and compacted while waygate is away: its resourceVersion is gone.
        self.api.apply(self.slice("web-abc12", [2]))
        self.api.apply(self.slice("web-def34", [3]))
        self.api.compact()
        lists = len(self.api.requests_seen("list"))
        self.api.start()
        self.wait_for(*self.names([2, 3]), timeout=RECONNECT_TIMEOUT)
        self.assertGreater(len(self.api.requests_seen("list")), lists, "no re-list")
        expired = [r for r in self.api.requests_seen("watch")
                   if int(r[2]["resourceVersion"]) < self.api.compacted]
        self.assertTrue(expired, "no watch from the compacted resourceVersion")

    def test_a_compaction_reported_as_an_error_event_forces_a_relist(self):
        self.compaction_forces_a_relist("event")

    def test_a_compaction_reported_as_http_410_forces_a_relist(self):
        self.compaction_forces_a_relist("status")

    def test_the_services_of_a_namespace_share_one_endpoint_slice_watch(self):
        # Three clusters, each a Service of the namespace, each routed by its own host.
        services = {"web": [0, 1], "cart": [2, 3], "search": [4]}
        for service, pods in services.items():
            self.api.apply(endpoint_slice(NAMESPACE, f"{service}-abc12", service,
                                          [self.pods[i].host for i in pods], port=self.pod_port))
        clusters = {service: {"discovery": {"kubernetes": {"service": f"{NAMESPACE}/{service}",
                                                           "port": "http"}}}
                    for service in services}
        routes = [{"hosts": [f"{service}.test"], "paths": [{"prefix": "/", "cluster": service}]}
                  for service in services]
        self.port = free_port()
        top = {"kubernetes": {"kubeconfig": self.kubeconfig()}}
        self.wg = self.env.waygate(proxy_config(self.port, clusters, routes=routes, top=top),
                                   self.port)
        self.api.wait_for_watch(kind="EndpointSlice")
        for service, pods in services.items():
            wait_for_answers(self.port, self.names(pods), POLL_TIMEOUT, host=f"{service}.test")
        self.assertEqual(1, self.api.watch_count("EndpointSlice"))
        slice_lists = [r for r in self.api.requests_seen("list") if r[1].endswith("/endpointslices")]
        self.assertEqual(1, len(slice_lists), "one LIST of the namespace's slices for all three")
        # A change to one Service's slice moves that cluster alone.
        self.api.apply(endpoint_slice(NAMESPACE, "cart-abc12", "cart", [self.pods[5].host],
                                      port=self.pod_port))
        wait_for_answers(self.port, self.names([5]), POLL_TIMEOUT, host="cart.test")
        self.assertEqual(set(self.names([0, 1])),
                         set(upstream_answers(self.port, 8, host="web.test")))
        self.assertEqual(set(self.names([4])),
                         set(upstream_answers(self.port, 4, host="search.test")))
        # The API server gone: one warning for the namespace's watch, not one per cluster; the
        # clusters keep their endpoints.
        self.api.stop()
        self.wg.wait_for_stderr(r"(?m)^.* warn .*EndpointSlices of namespace shop: .*\(keeping "
                                r"the last endpoints of 3 clusters;", timeout=RECONNECT_TIMEOUT)
        self.assertEqual(set(self.names([5])),
                         set(upstream_answers(self.port, 4, host="cart.test")))

    def test_a_namespace_of_many_slices_is_listed_in_pages(self):
        # The server pages at 2 items: the namespace's 3 slices with the label (api's, web's
        # two) take two pages, of which waygate keeps every item.
        self.api.max_page = 2
        self.api.apply(self.slice("web-abc12", [0, 1]))
        self.api.apply(self.slice("web-def34", [2]))
        self.start()
        self.wait_for(*self.names([0, 1, 2]))
        slice_lists = [r for r in self.api.requests_seen("list") if r[1].endswith("/endpointslices")]
        self.assertEqual(2, len(slice_lists))
        self.assertIn("limit", slice_lists[0][2])
        self.assertIn("continue", slice_lists[1][2])
        # The watch goes on from the list's resourceVersion.
        self.api.apply(self.slice("web-def34", [3]))
        self.wait_for(*self.names([0, 1, 3]))

    def test_a_cluster_added_by_a_reload_routes_from_the_watch_running(self):
        self.api.apply(self.slice("web-abc12", [0]))
        self.api.apply(endpoint_slice(NAMESPACE, "cart-abc12", "cart", [self.pods[3].host],
                                      port=self.pod_port))
        self.start()
        self.wait_for(*self.names([0]))

        def config(services):
            clusters = {s: {"discovery": {"kubernetes": {"service": f"{NAMESPACE}/{s}",
                                                         "port": "http"}}} for s in services}
            routes = [{"hosts": [f"{s}.test"], "paths": [{"prefix": "/", "cluster": s}]}
                      for s in services]
            routes.append({"hosts": ["*"], "paths": [{"prefix": "/", "cluster": "web"}]})
            top = {"kubernetes": {"kubeconfig": self.kubeconfig()},
                   "admin": {"address": f"127.0.0.1:{self.admin_port}"}}
            return proxy_config(self.port, clusters, routes=routes, top=top)
        self.wg.write_config(config(["web", "cart"]))
        self.wg.wait_for_reloads(1)
        # Routed from the first answer after the reload: the namespace's slices were known.
        self.assertEqual(set(self.names([3])), set(upstream_answers(self.port, 4, host="cart.test")))
        self.assertEqual(1, self.api.watch_count("EndpointSlice"))
        slice_lists = [r for r in self.api.requests_seen("list") if r[1].endswith("/endpointslices")]
        self.assertEqual(1, len(slice_lists), "no LIST for the cluster added")

    def test_a_refused_token_is_logged_and_the_last_endpoints_kept(self):
        self.api.apply(self.slice("web-abc12", [0, 1]))
        self.start()
        self.wait_for(*self.names([0, 1]))
        # The server stops accepting the token waygate has; its watch is cut.
        self.api.token = "rotated"
        self.api.stop()
        self.api.apply(self.slice("web-abc12", [2]))
        self.api.start()
        self.wg.wait_for_stderr(r"(?m)^.* warn .*EndpointSlices of namespace shop: .*HTTP 401: "
                                r"Unauthorized \(keeping the last endpoints of 1 cluster;",
                                timeout=RECONNECT_TIMEOUT)
        self.assertEqual(set(self.names([0, 1])), set(upstream_answers(self.port, 8)))
        # The projected token rotates: the file's new content is used from the next request on.
        with open(self.token_file, "w") as f:
            f.write("rotated\n")
        self.wait_for(*self.names([2]), timeout=RECONNECT_TIMEOUT)

    def test_the_discovery_delay_is_measured_by_kind_kubernetes(self):
        self.api.apply(self.slice("web-abc12", [0]))
        self.start()
        self.wait_for(*self.names([0]))
        self.api.apply(self.slice("web-abc12", [0, 1]))
        self.wait_for(*self.names([0, 1]))
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics",
                                    timeout=5) as resp:
            metrics = resp.read().decode()
        count = re.search(r'(?m)^waygate_discovery_delay_seconds_count\{source="kubernetes"\} '
                          r'(\d+)$', metrics)
        self.assertIsNotNone(count, "no waygate_discovery_delay_seconds{source=\"kubernetes\"}")
        self.assertGreaterEqual(int(count.group(1)), 1)
        for line in self.wg.stderr_text().splitlines():
            if "routed by every worker" in line:
                print("\n  " + line.split(" discovery: ", 1)[-1], end="")

    def test_a_kubeconfig_with_an_exec_plugin_is_refused_at_its_line(self):
        path = self.kubeconfig()
        with open(path) as f:
            text = f.read()
        # The user gets its token from a plugin, which waygate cannot run.
        text = text.replace("    tokenFile: " + self.token_file, """    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws""")
        with open(path, "w") as f:
            f.write(text)
        line = text.splitlines().index("    exec:") + 1
        cluster = {"discovery": {"kubernetes": {"service": f"{NAMESPACE}/{SERVICE}"}}}
        result = check_config(self.env.dir, proxy_config(free_port(), {"web": cluster},
                                                         top={"kubernetes": {"kubeconfig": path}}))
        self.assertEqual(1, result.returncode)
        self.assertIn(f"{path}:{line}:5: user.exec is not supported", result.stderr)
