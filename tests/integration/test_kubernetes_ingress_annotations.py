"""ingress-nginx's annotations on Ingresses routed by waygate (`routes_source: kubernetes`), each
seen through a request: rewrite-target, force-ssl-redirect, proxy-body-size, proxy-read-timeout,
upstream-hash-by, canary-weight and whitelist-source-range; and the warnings for annotations
waygate does not know or cannot apply. The cluster (API server stand-in, Services "web" with pods
0 and 1, "api" with pod 2) is test_kubernetes_ingress.py's.
"""

import re
import unittest

from harness import HttpConnection, request, wait_until
from test_kubernetes_ingress import NAMESPACE, KubernetesIngressCase

NGINX = "nginx.ingress.kubernetes.io/"


class KubernetesIngressAnnotationsTest(KubernetesIngressCase):
    def annotated(self, name, annotations, paths=(("Prefix", "/", "web", 80),), host="shop.test",
                  **kwargs):
        self.ingress(name, [(host, list(paths))],
                     annotations={NGINX + k: v for k, v in annotations.items()}, **kwargs)

    def get(self, target, host="shop.test", headers=(), body=None, method="GET", source=None):
        with HttpConnection(self.port, source=source) as conn:
            conn.send(request(method, target, host=host,
                              headers=[("Connection", "close"), *headers], body=body))
            return conn.read_response()

    def test_rewrite_target_replaces_the_matched_prefix(self):
        self.annotated("shop", {"rewrite-target": "/"}, [("Prefix", "/app", "web", 80)])
        self.wait_for("shop.test", "/app/x", "pod0", "pod1")
        # upstream.py answers "NAME METHOD TARGET": the target as it arrived.
        self.assertRegex(self.get("/app/x?q=1").body, rb"^pod[01] GET /x\?q=1\n$")
        self.assertRegex(self.get("/app").body, rb"^pod[01] GET /\n$")
        self.annotated("shop", {"rewrite-target": "/base"}, [("Prefix", "/app", "web", 80)])
        self.wait_until_body("/app/x", rb"^pod[01] GET /base/x\n$")

    def test_rewrite_target_with_capture_groups_skips_the_ingress(self):
        self.annotated("shop", {"rewrite-target": "/$2"},
                       [("Prefix", "/app", "web", 80)])
        self.annotated("other", {}, host="other.test")
        self.wait_for("other.test", "/", "pod0", "pod1")
        self.skipped(f"{NAMESPACE}/shop: annotation {NGINX}rewrite-target '/$2' uses capture "
                    "groups")
        self.assertEqual({404}, self.answers("shop.test", "/app/x"))

    def test_force_ssl_redirect_sends_plain_http_to_https(self):
        self.annotated("shop", {"force-ssl-redirect": "true"})
        self.wait_for("shop.test", "/a/b?c=d", 308)
        response = self.get("/a/b?c=d")
        self.assertEqual("https://shop.test/a/b?c=d", response.header("location"))

    def test_proxy_body_size_limits_request_bodies(self):
        self.annotated("shop", {"proxy-body-size": "1k"})
        self.wait_for("shop.test", "/", "pod0", "pod1")
        self.assertEqual(200, self.get("/echo", method="POST", body=b"x" * 1024).status)
        self.assertEqual(413, self.get("/echo", method="POST", body=b"x" * 1025).status)

    def test_proxy_read_timeout_bounds_the_wait_for_the_upstream(self):
        self.annotated("shop", {"proxy-read-timeout": "1"})
        self.wait_for("shop.test", "/", "pod0", "pod1")
        # Without the annotation the route's timeout is 30 s: the upstream's 5 s answer arrives.
        self.assertEqual(504, self.get("/slow?delay=5").status)

    def test_upstream_hash_by_a_header_keeps_a_user_on_one_pod(self):
        self.annotated("shop", {"upstream-hash-by": "$http_x_user"})
        self.wait_for("shop.test", "/", "pod0", "pod1")  # no X-User: placed at random
        for user in ("alice", "bob", "carol"):
            pods = {self.get("/", headers=[("X-User", user)]).header("x-upstream-name")
                    for _ in range(8)}
            self.assertEqual(1, len(pods), f"{user} went to {pods}")

    def test_a_canary_ingress_takes_its_weight_of_the_main_ingresses_path(self):
        self.annotated("main", {}, created="2026-01-01T00:00:00Z")
        self.annotated("canary", {"canary": "true", "canary-weight": "100"},
                       [("Prefix", "/", "api", 80)], created="2026-02-01T00:00:00Z")
        self.wait_for("shop.test", "/", "pod2")
        self.annotated("canary", {"canary": "true", "canary-weight": "50"},
                       [("Prefix", "/", "api", 80)])
        self.wait_for("shop.test", "/", "pod0", "pod1", "pod2")
        self.annotated("canary", {"canary": "true", "canary-weight": "0"},
                       [("Prefix", "/", "api", 80)])
        self.wait_for("shop.test", "/", "pod0", "pod1")

    def test_whitelist_source_range_answers_403_to_other_clients(self):
        self.annotated("shop", {"whitelist-source-range": "10.0.0.0/8, 127.0.0.2/32"})
        self.wait_for("shop.test", "/", 403)  # from 127.0.0.1
        # The 403 shows the route; the Service's endpoints come by a watch of their own, and until
        # they do an allowed client gets 503.
        statuses = []

        def allowed_gets_200():
            statuses.append(self.get("/", source="127.0.0.2").status)
            return statuses[-1] == 200
        try:
            wait_until(allowed_gets_200, 10.0, 0.05, "200 from 127.0.0.2")
        except AssertionError:
            raise AssertionError(f"127.0.0.2 got {sorted(set(statuses))}, never 200")
        self.annotated("shop", {"allowlist-source-range": "127.0.0.0/8"})
        self.wait_for("shop.test", "/", "pod0", "pod1")

    def test_unknown_annotations_are_warned_once_and_the_ingress_routed(self):
        self.annotated("shop", {"enable-cors": "true", "configuration-snippet": "x",
                                "proxy-send-timeout": "30"})
        self.wait_for("shop.test", "/", "pod0", "pod1")
        self.skipped(f"{NAMESPACE}/shop: annotations {NGINX}configuration-snippet, "
                    f"{NGINX}enable-cors are not supported by waygate and ignored")
        self.skipped(f"{NAMESPACE}/shop: annotation {NGINX}proxy-send-timeout '30' is not "
                    "applied")
        # Told once: not again when another Ingress changes the routes.
        self.annotated("other", {}, host="other.test")
        self.wait_for("other.test", "/", "pod0", "pod1")
        self.assertEqual(1, len(self.wg.stderr_matches(r"enable-cors are not supported")))

    def wait_until_body(self, target, pattern):
        last = []

        def matches():
            last[:] = [self.get(target).body]
            return re.match(pattern, last[0]) is not None
        try:
            wait_until(matches, 10.0, 0.05, "the body")
        except AssertionError:
            raise AssertionError(f"{target}: the last body was {last}")


if __name__ == "__main__":
    unittest.main()
