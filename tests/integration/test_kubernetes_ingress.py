"""waygate as an Ingress controller (`routes_source: kubernetes`): the Ingresses of its
IngressClass, read from the API server stand-in (kube_api_server.py), become routes to their
Services' ready endpoints. The Pods and Services are kube_routes_case.py's: both Services have
port 80 with targetPort the Pods' port, so an Ingress naming port 80 is routed only through the
Service's port name.
"""

from harness import proxy_config
from kube_api_server import ingress, ingress_class
from kube_routes_case import CLASS, NAMESPACE, KubernetesRoutesCase


class KubernetesIngressCase(KubernetesRoutesCase):
    """waygate reading the Ingresses of its class (also the base of
    test_kubernetes_ingress_annotations.py's, _status's and _tls's)."""

    skipped_kind = ("ingresses", "Ingress")

    def apply_classes(self):
        self.api.apply(ingress_class(CLASS))
        self.api.apply(ingress_class("other"))

    def start(self):
        self.wg = self.env.waygate(self.config_text(["file.test"]), self.port)
        self.api.wait_for_watch(count=4)  # Ingresses, IngressClasses, Services, Secrets

    def config_text(self, file_hosts):
        """The file routes file_hosts itself, to pod 2."""
        top = {"kubernetes": {"kubeconfig": self.kubeconfig},
               "routes_source": {"kubernetes": {"ingress_class": CLASS}}}
        routes = [{"hosts": file_hosts, "paths": [{"prefix": "/", "cluster": "file"}]}]
        return proxy_config(self.port, {"file": [self.pods[2].address]}, routes=routes, top=top)

    def ingress(self, name, rules=(), class_name=CLASS, created=None, **kwargs):
        self.api.apply(ingress(NAMESPACE, name, rules, class_name=class_name, **kwargs),
                       created=created)


class KubernetesIngressTest(KubernetesIngressCase):
    def test_an_ingress_routes_its_host_until_changed_and_deleted(self):
        self.ingress("shop", [("shop.test", [("Prefix", "/", "web", 80)])])
        self.wait_for("shop.test", "/", "pod0", "pod1")
        # Another host is not routed by it.
        self.assertEqual({404}, self.answers("other.test", "/"))
        self.ingress("shop", [("shop.test", [("Prefix", "/", "api", 80)])])
        self.wait_for("shop.test", "/", "pod2")
        self.api.delete(NAMESPACE, "shop", kind="Ingress")
        self.wait_for("shop.test", "/", 404)
        # The file's own routes served all along.
        self.assertEqual({"pod2"}, self.answers("file.test", "/"))

    def test_the_service_port_is_found_by_name_too(self):
        self.ingress("shop", [("shop.test", [("Prefix", "/", "web", "http")])])
        self.wait_for("shop.test", "/", "pod0", "pod1")

    def test_prefix_matches_whole_path_elements_and_exact_the_path_alone(self):
        self.ingress("shop", [("shop.test", [("Prefix", "/foo/", "web", 80),
                                             ("Exact", "/bar", "api", 80),
                                             ("ImplementationSpecific", "/baz", "api", 80)])])
        self.wait_for("shop.test", "/foo", "pod0", "pod1")
        self.wait_for("shop.test", "/foo/x", "pod0", "pod1")
        self.wait_for("shop.test", "/bar", "pod2")
        self.wait_for("shop.test", "/baz/x", "pod2")  # ImplementationSpecific: as Prefix
        for target in ("/foobar", "/bar/x", "/barx", "/bazooka"):
            self.assertEqual({404}, self.answers("shop.test", target), target)

    def test_the_longest_prefix_and_an_exact_path_win_whatever_their_order(self):
        self.ingress("shop", [("shop.test", [("Prefix", "/", "web", 80),
                                             ("Prefix", "/api", "api", 80),
                                             ("Exact", "/api/web", "web", 80)])])
        self.wait_for("shop.test", "/api/x", "pod2")
        self.wait_for("shop.test", "/api/web", "pod0", "pod1")
        self.wait_for("shop.test", "/else", "pod0", "pod1")

    def test_only_ingresses_of_the_class_and_classless_ones_of_a_default_class(self):
        self.ingress("theirs", [("theirs.test", [("Prefix", "/", "web", 80)])],
                     class_name="other")
        self.ingress("classless", [("classless.test", [("Prefix", "/", "web", 80)])],
                     class_name=None)
        # Applied last: once it routes, the two before have been seen.
        self.ingress("ours", [("ours.test", [("Prefix", "/", "api", 80)])])
        self.wait_for("ours.test", "/", "pod2")
        self.assertEqual({404}, self.answers("theirs.test", "/"))
        self.assertEqual({404}, self.answers("classless.test", "/"))
        self.api.apply(ingress_class(CLASS, default=True))
        self.wait_for("classless.test", "/", "pod0", "pod1")
        self.assertEqual({404}, self.answers("theirs.test", "/"))

    def test_the_oldest_ingress_wins_a_host_and_path_both_claim(self):
        # The newer one sorts first by name: only its age makes it lose.
        self.ingress("b-old", [("shop.test", [("Prefix", "/", "web", 80)])],
                     created="2026-01-01T00:00:00Z")
        self.ingress("a-new", [("shop.test", [("Prefix", "/", "api", 80),
                                              ("Exact", "/new", "api", 80)])],
                     created="2026-02-01T00:00:00Z")
        self.wait_for("shop.test", "/new", "pod2")  # its other path is routed
        self.wait_for("shop.test", "/", "pod0", "pod1")
        self.skipped(f"{NAMESPACE}/a-new: path host shop.test Prefix / is already routed by "
                     f"Ingress {NAMESPACE}/b-old (older); skipped")
        self.api.delete(NAMESPACE, "b-old", kind="Ingress")
        self.wait_for("shop.test", "/", "pod2")

    def test_a_broken_ingress_is_skipped_alone(self):
        self.ingress("good", [("good.test", [("Prefix", "/", "web", 80)])])
        self.ingress("broken", [("broken.test", [("Prefix", "/", "web", 80),
                                                 ("Regex", "/x.*", "api", 80)])])
        self.ingress("no-slash", [("slash.test", [("ImplementationSpecific", "x", "web", 80)])])
        self.wait_for("good.test", "/", "pod0", "pod1")
        self.skipped(f"{NAMESPACE}/broken: spec.rules[0].http.paths[1].pathType 'Regex' is not "
                     "Exact, Prefix or ImplementationSpecific; the Ingress is skipped")
        self.skipped(f"{NAMESPACE}/no-slash: spec.rules[0].http.paths[0].path 'x' is not an "
                     "absolute path")
        # None of a broken Ingress is routed, not even its good paths.
        self.assertEqual({404}, self.answers("broken.test", "/"))
        self.ingress("broken", [("broken.test", [("Prefix", "/", "web", 80),
                                                 ("Prefix", "/x", "api", 80)])])
        self.wait_for("broken.test", "/x", "pod2")
        self.wait_for("good.test", "/", "pod0", "pod1")

    def test_a_default_backend_serves_what_no_rule_matches(self):
        self.ingress("shop", [("shop.test", [("Prefix", "/app", "web", 80)])],
                     default_backend=("api", 80))
        self.wait_for("shop.test", "/app", "pod0", "pod1")
        self.wait_for("shop.test", "/other", "pod2")  # its host, a path no rule has
        self.wait_for("anything.test", "/", "pod2")  # a host no rule names

    def test_a_host_the_file_routes_is_left_to_the_file(self):
        self.ingress("shop", [("file.test", [("Prefix", "/", "web", 80)]),
                              ("shop.test", [("Prefix", "/", "web", 80)])])
        self.wait_for("shop.test", "/", "pod0", "pod1")
        self.skipped(f"{NAMESPACE}/shop: host file.test is routed by the config file")
        self.assertEqual({"pod2"}, self.answers("file.test", "/"))

    def test_a_host_the_file_starts_routing_is_taken_from_the_ingress(self):
        self.ingress("shop", [("late.test", [("Prefix", "/", "web", 80)])])
        self.wait_for("late.test", "/", "pod0", "pod1")
        self.wg.write_config(self.config_text(["file.test", "late.test"]))
        self.wait_for("late.test", "/", "pod2")
        self.skipped(f"{NAMESPACE}/shop: host late.test is routed by the config file")
