"""waygate as a Gateway API implementation (`routes_source: { kubernetes: { gateway_class } }`): the
HTTPRoutes attached to the Gateways of its GatewayClass, read from the API server stand-in
(kube_api_server.py), become routes to their Services' ready endpoints. The Pods and Services are
kube_routes_case.py's.
"""

import json
import re

from harness import (HttpConnection, proxy_config, request, upstream_answers, wait_for_answers,
                     wait_until)
from kube_api_server import (gateway, gateway_class, http_route, http_rule, ingress,
                             ingress_class, service)
from kube_routes_case import CLASS, NAMESPACE, POLL_TIMEOUT, KubernetesRoutesCase

RECONNECT_TIMEOUT = 30.0  # a failure guard for a watch resumed after backoff
CONTROLLER = "waygate.dev/gateway-controller"  # the GatewayClass's spec.controllerName
PODS = 3


def path(kind, value, headers=None):
    """A match on a path (PathPrefix, Exact or RegularExpression), and headers {name: value}."""
    match = {"path": {"type": kind, "value": value}}
    if headers:
        match["headers"] = [{"name": n, "value": v} for n, v in headers.items()]
    return match


class GatewayCase(KubernetesRoutesCase):
    """A Gateway of waygate's class and one of another's, and waygate reading them; no tests of
    its own."""

    ingress_class_name = None  # also read the Ingresses of this class
    skipped_kind = ("gateways", "HTTPRoute")

    def apply_classes(self):
        self.api.apply(gateway_class(CLASS))
        self.api.apply(gateway_class("other", controller="example.com/other-controller"))
        self.api.apply(gateway(NAMESPACE, "gw", CLASS))
        self.api.apply(gateway(NAMESPACE, "theirs", "other"))

    def start(self):
        source = {"gateway_class": CLASS}
        if self.ingress_class_name:
            source["ingress_class"] = self.ingress_class_name
        top = {"kubernetes": {"kubeconfig": self.kubeconfig},
               "routes_source": {"kubernetes": source}}
        routes = [{"hosts": ["file.test"], "paths": [{"prefix": "/", "cluster": "file"}]}]
        self.wg = self.env.waygate(
            proxy_config(self.port, {"file": [self.pods[2].address]}, routes=routes, top=top),
            self.port)
        # GatewayClasses, Gateways, HTTPRoutes, Services; and Ingresses, IngressClasses, Services
        self.api.wait_for_watch(count=7 if self.ingress_class_name else 4)

    def route(self, name, hostnames, rules, parents=("gw",), created=None):
        self.api.apply(http_route(NAMESPACE, name, parents, hostnames, rules), created=created)

    def send(self, target, host, headers=()):
        with HttpConnection(self.port) as conn:
            conn.send(request("GET", target, host=host,
                              headers=[("Connection", "close"), *headers]))
            return conn.read_response()



class KubernetesGatewayTest(GatewayCase):

    def test_an_httproute_routes_its_hostnames_until_changed_and_deleted(self):
        self.route("shop", ["shop.test"], [http_rule([("web", 80)])])
        self.wait_for("shop.test", "/", "pod0", "pod1")
        self.assertEqual({404}, self.answers("other.test", "/"))
        self.route("shop", ["shop.test"], [http_rule([("api", 80)])])
        self.wait_for("shop.test", "/", "pod2")
        self.api.delete(NAMESPACE, "shop", kind="HTTPRoute")
        self.wait_for("shop.test", "/", 404)
        # The file's own routes served all along.
        self.assertEqual({"pod2"}, self.answers("file.test", "/"))

    def route_status(self, name):
        """The HTTPRoute's status.parents entries of waygate's controller, once there are any."""
        with self.api.lock:
            route = self.api.objects.get(("HTTPRoute", NAMESPACE, name))
            parents = (route or {}).get("status", {}).get("parents", [])
            return [p for p in parents if p.get("controllerName") == CONTROLLER]

    def conditions(self, name):
        """{type: (status, reason)} of the route's one waygate entry, once it says anything."""
        entries = wait_until(lambda: self.route_status(name), POLL_TIMEOUT, 0.05,
                             f"a status of HTTPRoute {name}")
        self.assertEqual(1, len(entries))
        return {c["type"]: (c["status"], c["reason"]) for c in entries[0]["conditions"]}

    def wait_for_conditions(self, name, expected):
        def written():
            entries = self.route_status(name)
            return entries and {c["type"]: (c["status"], c["reason"])
                                for c in entries[0]["conditions"]} == expected
        wait_until(written, POLL_TIMEOUT, 0.05, f"HTTPRoute {name}'s conditions {expected}")
        return self.route_status(name)[0]

    def test_httproute_status_says_accepted_and_whether_its_backends_resolve(self):
        # Another controller's entry in status.parents, there from before: it stays.
        theirs = {"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                "name": "theirs"},
                  "controllerName": "example.com/other-controller",
                  "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                  "message": "", "observedGeneration": 1,
                                  "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        good = http_route(NAMESPACE, "good", ["gw", "theirs"], ["good.test"],
                          [http_rule([("web", 80)])])
        good["status"]["parents"] = [theirs]
        self.api.apply(good)
        self.route("broken", ["broken.test"], [http_rule([("web", 80)]),
                                               http_rule([("missing", 80)])])
        entry = self.wait_for_conditions("good", {"Accepted": ("True", "Accepted"),
                                                  "ResolvedRefs": ("True", "ResolvedRefs")})
        with self.api.lock:
            stored = self.api.objects[("HTTPRoute", NAMESPACE, "good")]
            self.assertEqual(stored["spec"]["parentRefs"][0], entry["parentRef"])
            self.assertIn(theirs, stored["status"]["parents"])
            self.assertEqual(2, len(stored["status"]["parents"]), "only the parentRef of gw")
            generation = stored["metadata"]["generation"]
        for condition in entry["conditions"]:
            self.assertEqual(generation, condition["observedGeneration"])
            self.assertRegex(condition["lastTransitionTime"],
                             r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        broken = self.wait_for_conditions("broken",
                                          {"Accepted": ("True", "Accepted"),
                                           "ResolvedRefs": ("False", "BackendNotFound")})
        resolved = next(c for c in broken["conditions"] if c["type"] == "ResolvedRefs")
        self.assertIn(f"Service {NAMESPACE}/missing", resolved["message"])
        # Written through the status subresource, as a merge patch made from the version read.
        patches = [r for r in self.api.requests
                   if r[0] == "PATCH" and r[1].endswith("/httproutes/broken/status")]
        self.assertTrue(patches)
        self.assertEqual(200, patches[0][3])
        self.assertIn("resourceVersion", json.loads(patches[0][2])["metadata"])
        # The Service made: the route's refs resolve now.
        self.api.apply(service(NAMESPACE, "missing", [("http", 80, self.pod_port)]))
        self.wait_for_conditions("broken", {"Accepted": ("True", "Accepted"),
                                            "ResolvedRefs": ("True", "ResolvedRefs")})

    def test_an_httproute_no_listener_takes_is_not_accepted(self):
        self.route("lost", ["lost.test"], [http_rule([("web", 80)])], parents=(("gw", "nope"),))
        self.wait_for_conditions("lost", {"Accepted": ("False", "NotAllowedByListeners"),
                                          "ResolvedRefs": ("True", "ResolvedRefs")})
        # An HTTPRoute of another class's Gateway gets no status from waygate.
        self.route("other", ["other.test"], [http_rule([("web", 80)])], parents=("theirs",))
        self.route("shop", ["shop.test"], [http_rule([("web", 80)])])
        self.wait_for_conditions("shop", {"Accepted": ("True", "Accepted"),
                                          "ResolvedRefs": ("True", "ResolvedRefs")})
        self.assertEqual([], self.route_status("other"))

    def test_a_weighted_split_sends_roughly_its_share_to_each_service(self):
        # Both Services' endpoints known first, so that the split is measured, not discovery.
        self.route("split", ["split.test"], [http_rule([("web", 80)], [path("PathPrefix", "/web")]),
                                             http_rule([("api", 80)])])
        self.wait_for("split.test", "/web", "pod0", "pod1")
        self.wait_for("split.test", "/", "pod2")
        self.route("split", ["split.test"], [http_rule([("web", 80, 90), ("api", 80, 10)])])
        wait_until(lambda: {"pod0", "pod1"} & self.answers("split.test", "/"), POLL_TIMEOUT,
                   message="the split applied")
        answers = upstream_answers(self.port, 300, host="split.test", target="/")
        self.assertEqual(set(), set(answers) - {"pod0", "pod1", "pod2"}, answers)
        to_api = answers.count("pod2")
        # 10% of 300 is 30; a binomial's standard deviation there is about 5: 10 to 60 fails a
        # correct split about never, and an even or reversed one always.
        self.assertTrue(10 <= to_api <= 60, f"{to_api} of 300 went to the 10% Service")

    def test_header_matches_and_the_longest_path_win_whatever_their_order(self):
        self.route("shop", ["shop.test"], [
            http_rule([("web", 80)], [path("PathPrefix", "/")]),
            http_rule([("api", 80)], [path("PathPrefix", "/", headers={"X-Tenant": "blue"})]),
            http_rule([("web", 80)], [path("PathPrefix", "/app/v1")]),
            http_rule([("api", 80)], [path("PathPrefix", "/app")]),
        ])
        self.wait_for("shop.test", "/app/x", "pod2")
        self.wait_for("shop.test", "/app/v1/x", "pod0", "pod1")
        self.wait_for("shop.test", "/else", "pod0", "pod1")
        self.assertEqual("pod2", self.send("/else", "shop.test", [("X-Tenant", "blue")])
                         .header("x-upstream-name"))
        self.assertIn(self.send("/else", "shop.test", [("X-Tenant", "green")])
                      .header("x-upstream-name"), {"pod0", "pod1"})

    def test_a_redirect_and_header_modifiers_apply(self):
        redirect = {"type": "RequestRedirect",
                    "requestRedirect": {"scheme": "https", "hostname": "secure.test",
                                        "statusCode": 301}}
        modify = [{"type": "RequestHeaderModifier",
                   "requestHeaderModifier": {"set": [{"name": "X-Env", "value": "prod"}],
                                             "remove": ["X-Debug"]}},
                  {"type": "ResponseHeaderModifier",
                   "responseHeaderModifier": {"add": [{"name": "X-Gateway", "value": "waygate"}]}}]
        self.route("shop", ["shop.test"], [
            http_rule([], [path("PathPrefix", "/old")], filters=[redirect]),
            http_rule([("api", 80)], [path("PathPrefix", "/")], filters=modify),
        ])
        self.wait_for("shop.test", "/x", "pod2")
        moved = self.send("/old/page?q=1", "shop.test")
        self.assertEqual(301, moved.status)
        self.assertEqual("https://secure.test/old/page?q=1", moved.header("location"))
        answer = self.send("/headers", "shop.test", [("X-Env", "dev"), ("X-Debug", "1")])
        self.assertEqual("waygate", answer.header("x-gateway"))
        sent = [(name.lower(), value) for name, value in json.loads(answer.body)["headers"]]
        # set replaces the client's value; remove removes it.
        self.assertEqual(["prod"], [value for name, value in sent if name == "x-env"])
        self.assertEqual([], [value for name, value in sent if name == "x-debug"])

    def test_an_httproute_of_another_class_gateway_is_ignored(self):
        self.route("theirs", ["theirs.test"], [http_rule([("web", 80)])], parents=("theirs",))
        # Applied last: once it routes, the one before has been seen.
        self.route("ours", ["ours.test"], [http_rule([("api", 80)])])
        self.wait_for("ours.test", "/", "pod2")
        self.assertEqual({404}, self.answers("theirs.test", "/"))
        # Attached to both: routed through ours.
        self.route("theirs", ["theirs.test"], [http_rule([("web", 80)])],
                   parents=("theirs", "gw"))
        self.wait_for("theirs.test", "/", "pod0", "pod1")

    def test_the_last_routes_serve_while_the_api_server_is_away_and_changes_follow(self):
        self.route("shop", ["shop.test"], [http_rule([("web", 80)])])
        self.wait_for("shop.test", "/", "pod0", "pod1")
        self.api.stop()
        self.wg.wait_for_stderr(r"(?m)^.* warn .*routes_source kubernetes gateways of class "
                                rf"{CLASS}: HTTPRoutes from {re.escape(self.api.url)}\b.*$")
        self.assertEqual({"pod0", "pod1"}, self.answers("shop.test", "/"))
        # Changed while waygate cannot see it: applied once it can.
        self.route("shop", ["shop.test"], [http_rule([("api", 80)])])
        self.api.start()
        wait_for_answers(self.port, ["pod2"], RECONNECT_TIMEOUT, host="shop.test", target="/")

    def test_an_unsupported_filter_skips_the_rule_with_a_warning(self):
        mirror = {"type": "RequestMirror",
                  "requestMirror": {"backendRef": {"name": "web", "port": 80}}}
        self.route("shop", ["shop.test"], [
            http_rule([("api", 80)], [path("PathPrefix", "/")]),
            http_rule([("web", 80)], [path("PathPrefix", "/mirrored")], filters=[mirror]),
        ])
        self.wait_for("shop.test", "/", "pod2")
        self.skipped(f"{NAMESPACE}/shop: spec.rules[1].filters[0].type 'RequestMirror' is not "
                     "supported; the rule is skipped")
        # Not routed as if it had no filter: the rule is not there at all.
        self.assertEqual({"pod2"}, self.answers("shop.test", "/mirrored"))


class KubernetesGatewayBesideIngressTest(GatewayCase):
    """Ingresses of a class read too: both make routes, into one document."""

    ingress_class_name = CLASS

    def start(self):
        self.api.apply(ingress_class(CLASS))
        super().start()

    def test_ingresses_route_beside_httproutes_and_keep_a_host_both_name(self):
        self.api.apply(ingress(NAMESPACE, "legacy", [("legacy.test", [("Prefix", "/", "api", 80)]),
                                                     ("both.test", [("Prefix", "/", "api", 80)])],
                               class_name=CLASS))
        self.route("shop", ["shop.test", "both.test"], [http_rule([("web", 80)])])
        self.wait_for("legacy.test", "/", "pod2")
        self.wait_for("shop.test", "/", "pod0", "pod1")
        self.assertEqual({"pod2"}, self.answers("both.test", "/"))
        self.skipped(f"{NAMESPACE}/shop: host both.test is routed by the config file or an "
                     "Ingress")
        # Both sources read the Services through one watch; the clusters of both Services (web
        # from the HTTPRoute, api from the Ingress) share one watch of the namespace's slices.
        self.assertEqual(1, self.api.watch_count("Service"))
        self.assertEqual(1, self.api.watch_count("EndpointSlice"))
