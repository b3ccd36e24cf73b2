"""Routes from etcd (`routes_source: etcd`): the key's value (YAML with `routes:` and optionally
`clusters:`) is merged with the config file's routes and clusters and validated like the file; a
good value is applied like a reload, a bad one is refused while the old routes keep serving, and
the routes follow the key through the loss of an etcd member.

The file routes every host ("*") to upstream A and answers GET /version with "file vN"; values
in etcd route host etcd.test and answer its /version with "etcd vN". A change is waited for by
polling /version; an applied or refused value is also seen in the log ("reloaded",
"reload (etcd) refused:").
"""

from harness import (HOST, HttpConnection, WaygateTestCase, free_port, request, to_yaml,
                     upstream_answers, wait_for_answers, wait_for_leader, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard for "the change applied", not a timing expectation
RECONNECT_TIMEOUT = 30.0  # the same after a member was lost: reconnect backoff comes first
ETCD_HOST = "etcd.test"
REFUSED = r"(?m)^.*reload \(etcd\) refused: .*$"


def version_path(text):
    return {"exact": "/version", "respond": {"status": 200, "body": f"{text}\n"}}


def config_text(port, up, version, etcd_urls, key):
    return to_yaml({
        "workers": 1,
        "access_log": "stdout",
        "routes_source": {"etcd": {"endpoints": list(etcd_urls), "key": key}},
        "listeners": [{"name": "web", "address": f"{HOST}:{port}"}],
        "routes": [{"hosts": ["*"], "paths": [version_path(f"file v{version}"),
                                              {"prefix": "/", "cluster": "A"}]}],
        "clusters": [{"name": "A", "endpoints": [up.address]}],
    })


def etcd_value(version, cluster="B", endpoints=None, hosts=(ETCD_HOST,), **route_keys):
    """A routes_source value: hosts routed to cluster, defined here when endpoints are given;
    route_keys: further keys of the forwarding path (request_headers, ...)."""
    forward = {"prefix": "/", "cluster": cluster, **route_keys}
    value = {"routes": [{"hosts": list(hosts),
                         "paths": [version_path(f"etcd v{version}"), forward]}]}
    if endpoints is not None:
        value["clusters"] = [{"name": cluster, "endpoints": list(endpoints)}]
    return to_yaml(value)


def version(port, host=ETCD_HOST):
    with HttpConnection(port) as conn:
        conn.send(request("GET", "/version", host=host, headers=[("Connection", "close")]))
        resp = conn.read_response()
    return resp.body.decode() if resp.status == 200 else resp.status


def wait_for_version(port, text, host=ETCD_HOST, timeout=POLL_TIMEOUT):
    wait_until(lambda: version(port, host) == f"{text}\n", timeout, 0.02,
               f"GET /version for {host} on port {port} to answer {text!r}")


class RoutesSourceTest(WaygateTestCase):
    """One etcd member for the class; each test has a key of its own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etcd = cls.class_env.etcd()

    def setUp(self):
        super().setUp()
        self.up_a = self.env.upstream("A")
        self.up_b = self.env.upstream("B")
        self.key = f"/waygate/routes/{self._testMethodName}"
        self.port = free_port()
        self.wg = self.env.waygate(self.config(1), self.port)

    def config(self, version_number):
        return config_text(self.port, self.up_a, version_number, [self.etcd.url], self.key)

    def put_and_wait(self, version_number, **value):
        """Puts a good value and waits until it serves."""
        reloads = self.wg.reload_count()
        self.etcd.put(self.key, etcd_value(version_number, **value))
        self.wg.wait_for_reloads(reloads + 1)
        wait_for_version(self.port, f"etcd v{version_number}")

    def put_refused(self, text):
        """Puts a bad value and waits until waygate has refused it; returns the refusal lines."""
        refused = len(self.wg.stderr_matches(REFUSED))
        self.etcd.put(self.key, text)
        return self.wg.wait_for_stderr(REFUSED, refused + 1)[refused:]

    def assert_v1_serves(self):
        """The file's routes and the first etcd value (etcd.test -> B) answer as before."""
        self.assertEqual(version(self.port), "etcd v1\n")
        self.assertEqual(set(upstream_answers(self.port, 4, host=ETCD_HOST)), {"B"})
        self.assertEqual(version(self.port, "proxy.test"), "file v1\n")
        self.assertEqual(set(upstream_answers(self.port, 4)), {"A"})

    def test_route_added_in_etcd_starts_routing(self):
        self.assertEqual(version(self.port), "file v1\n")  # "*" from the file, for now
        self.put_and_wait(1, endpoints=[self.up_b.address])
        wait_for_answers(self.port, {"B"}, POLL_TIMEOUT, host=ETCD_HOST)
        self.assert_v1_serves()

    def test_etcd_route_may_use_a_cluster_of_the_file(self):
        self.put_and_wait(1, cluster="A")
        wait_for_answers(self.port, {"A"}, POLL_TIMEOUT, host=ETCD_HOST)

    def test_changed_value_applies(self):
        self.put_and_wait(1, endpoints=[self.up_b.address])
        self.put_and_wait(2, cluster="A")
        wait_for_answers(self.port, {"A"}, POLL_TIMEOUT, host=ETCD_HOST)

    def test_file_reload_keeps_the_etcd_routes(self):
        self.put_and_wait(1, endpoints=[self.up_b.address])
        reloads = self.wg.reload_count()
        self.wg.write_config(self.config(2))
        self.wg.wait_for_reloads(reloads + 1)
        wait_for_version(self.port, "file v2", "proxy.test")
        self.assertEqual(version(self.port), "etcd v1\n")
        self.assertEqual(set(upstream_answers(self.port, 4, host=ETCD_HOST)), {"B"})

    def test_invalid_yaml_is_refused_and_the_old_routes_keep_serving(self):
        self.put_and_wait(1, endpoints=[self.up_b.address])
        self.put_refused("routes: [ { hosts: [etcd.test\n")
        self.assert_v1_serves()
        self.put_and_wait(2, endpoints=[self.up_b.address])  # a good value after a bad one

    def test_unknown_cluster_is_refused_and_the_old_routes_keep_serving(self):
        self.put_and_wait(1, endpoints=[self.up_b.address])
        lines = self.put_refused(etcd_value(2, cluster="nope"))
        self.assertTrue(any("nope" in line for line in lines), lines)
        self.assert_v1_serves()

    def test_header_injection_is_refused_like_in_the_file(self):
        self.put_and_wait(1, endpoints=[self.up_b.address])
        self.put_refused(etcd_value(2, endpoints=[self.up_b.address], request_headers={
            "add": {"X-A": "ok\r\nX-Injected: 1"}}))
        self.assert_v1_serves()

    def test_host_already_routed_by_the_file_is_refused(self):
        self.put_and_wait(1, endpoints=[self.up_b.address])
        self.put_refused(etcd_value(2, cluster="A", hosts=["*"]))  # "*" is the file's
        self.assert_v1_serves()


class RoutesSourceClusterTest(WaygateTestCase):

    def test_route_change_reaches_two_instances_after_a_member_is_killed(self):
        members = self.env.etcd_cluster(3)
        key = "/waygate/routes/shared"
        up = self.env.upstream("A")
        members[0].put(key, etcd_value(1, cluster="A"))
        ports = []
        for _ in range(2):
            port = free_port()
            self.env.waygate(config_text(port, up, 1, [m.url for m in members], key), port)
            ports.append(port)
        for port in ports:
            wait_for_version(port, "etcd v1")
        wait_until(lambda: sum(m.watchers() for m in members) >= 2, POLL_TIMEOUT, 0.05,
                   "both instances to watch the key")
        victim = max(members, key=lambda m: m.watchers())  # holds a watch, maybe both
        victim.kill()
        survivors = [m for m in members if m is not victim]
        wait_for_leader(survivors)
        survivors[0].put(key, etcd_value(2, cluster="A"))
        for port in ports:
            wait_for_version(port, "etcd v2", timeout=RECONNECT_TIMEOUT)
