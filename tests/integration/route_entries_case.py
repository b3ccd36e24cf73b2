"""What the routes_dir and etcd route-entry tests share: an entry's text, and a test case that
speaks to waygate's admin API about its entries (GET /routes_dir, PUT/DELETE /routes/NAME) and
polls the proxy for the answers of a host. A subclass starts waygate and sets self.port,
self.admin_port and self.token (None: no token).
"""

import json

from harness import (HOST, HttpConnection, WaygateTestCase, admin_request, request, to_yaml,
                     upstream_answers, wait_for_answers, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard for "the change applied", not a timing expectation


def route_entry(hosts_to_clusters, clusters=None):
    """A routes_dir file or etcd entry: each host routed to its cluster; clusters: name ->
    endpoints defined in the entry itself."""
    value = {"routes": [{"hosts": [host], "paths": [{"prefix": "/", "cluster": cluster}]}
                        for host, cluster in hosts_to_clusters.items()]}
    if clusters:
        value["clusters"] = [{"name": name, "endpoints": list(endpoints)}
                             for name, endpoints in clusters.items()]
    return to_yaml(value)


class RouteEntriesCase(WaygateTestCase):
    """No tests of its own."""

    token = None

    def admin(self, method, path, body=None, headers=(), token=None):
        """An admin request with self.token, or with token ("" for none)."""
        token = self.token if token is None else token
        headers = list(headers) + ([("Authorization", f"Bearer {token}")] if token else [])
        if body is None:
            return admin_request(self.admin_port, method, path, headers=headers)
        with HttpConnection(self.admin_port) as conn:
            conn.send(request(method, path, host=f"{HOST}:{self.admin_port}",
                              headers=[("Connection", "close"), *headers],
                              body=body.encode()))
            return conn.read_response(method)

    def status_page(self):
        """GET /routes_dir, parsed."""
        resp = self.admin("GET", "/routes_dir")
        self.assertEqual(resp.status, 200, resp)
        return json.loads(resp.body)

    def status(self):
        """The entries of GET /routes_dir by name."""
        return {f["name"]: f for f in self.status_page()["files"]}

    def wait_for_status(self, predicate, message):
        last = {}

        def check():
            last["files"] = self.status()
            return predicate(last["files"])
        try:
            wait_until(check, POLL_TIMEOUT, 0.02, message)
        except AssertionError:
            raise AssertionError(f"waited for {message}; GET /routes_dir says "
                                 f"{json.dumps(last.get('files'), indent=1)}")
        return last["files"]

    def answers(self, host, count=4):
        return upstream_answers(self.port, count, host=host)

    def wait_for(self, host, expected, timeout=POLL_TIMEOUT):
        """Until host is answered by exactly the upstream names (or statuses) in expected."""
        return wait_for_answers(self.port, expected, timeout, host=host)
