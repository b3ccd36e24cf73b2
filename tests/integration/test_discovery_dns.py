"""Cluster endpoints from DNS, against a real resolver (dnsmasq on a loopback port): A/AAAA names
in `discovery: dns` and in `endpoints:`, re-resolved as their TTL (1 s here) says; SRV records
with their ports, priorities and weights; NXDOMAIN; and a resolver that is down or silent.

Upstreams B, C, D and V6 listen on 127.0.0.2, 127.0.0.3, 127.0.0.4 and ::1, all on one port, so
a name's A and AAAA records choose among them. A changed record is first confirmed at dnsmasq
(DnsServer.set_hosts), then waited for at waygate by polling until exactly the expected upstreams
answer; waiting for the TTL to pass is the behaviour under test, so the polls are bounded failure
guards only.
"""

import signal

from harness import (HOST, WaygateTestCase, free_port, proxy_config, upstream_answers,
                     wait_for_answers)

POLL_TIMEOUT = 15.0  # a failure guard: TTL 1 s plus a resolver timeout and a retry or two
ADDRESSES = {"B": "127.0.0.2", "C": "127.0.0.3", "D": "127.0.0.4", "V6": "::1"}


def failure_warning(name):
    """A warn or error line naming the DNS name (what is logged when a lookup fails)."""
    return rf"(?m)^.* (?:warn|error) .*{name.replace('.', '[.]')}.*$"


def upstreams_on_one_port(env, names):
    """Upstreams named as given, each on its ADDRESSES entry, all on one port."""
    for attempt in range(5):
        started = []
        try:
            port = 0
            for name in names:
                started.append(env.upstream(name, host=ADDRESSES[name], port=port))
                port = started[0].port
            return {up.name: up for up in started}
        except RuntimeError:  # the port was taken on another address: try another one
            for up in started:
                up.close()
                env.upstreams.remove(up)
            if attempt == 4:
                raise


class DnsTestCase(WaygateTestCase):
    """Class-wide: upstreams B, C, D and V6 on one port (cls.port_bcd)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ups = upstreams_on_one_port(cls.class_env, ("B", "C", "D", "V6"))
        cls.port_bcd = cls.ups["B"].port

    def start(self, cluster, top=None):
        self.port = free_port()
        self.wg = self.env.waygate(proxy_config(self.port, {"web": cluster}, top=top), self.port)

    def wait_for(self, *expected):
        return wait_for_answers(self.port, expected, POLL_TIMEOUT)

    def dns_cluster(self, name, resolver, **options):
        return {"discovery": {"dns": {"name": name, "port": self.port_bcd, "resolver": resolver,
                                      **options}}}


class DnsNameTest(DnsTestCase):
    """One dnsmasq for the class; each test uses names of its own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dns = cls.class_env.dns_server(ttl=1)

    def set_records(self, name, *upstreams):
        """name's A records point at the upstreams given; none: the name is gone (NXDOMAIN)."""
        hosts = {k: v for k, v in self.dns.hosts.items() if k != name}
        if upstreams:
            hosts[name] = [ADDRESSES[u] for u in upstreams]
        self.dns.set_hosts(hosts)

    def test_name_with_two_addresses_is_balanced_over_both(self):
        self.set_records("pair.test", "B", "C")
        self.start(self.dns_cluster("pair.test", self.dns.address))
        self.wait_for("B", "C")
        answers = upstream_answers(self.port, 20)
        # Round robin gives each 10; a re-resolution that restarted the rotation could shift
        # one turn, so the bound leaves room for that (not for one upstream taking most).
        self.assertGreaterEqual(min(answers.count("B"), answers.count("C")), 8, answers)

    def test_added_record_is_used_after_the_ttl(self):
        self.set_records("grow.test", "B")
        self.start(self.dns_cluster("grow.test", self.dns.address))
        self.wait_for("B")
        self.set_records("grow.test", "B", "C")
        self.wait_for("B", "C")

    def test_removed_record_is_dropped_after_the_ttl(self):
        self.set_records("shrink.test", "B", "C")
        self.start(self.dns_cluster("shrink.test", self.dns.address))
        self.wait_for("B", "C")
        self.set_records("shrink.test", "C")
        self.wait_for("C")

    def test_nxdomain_empties_the_cluster_until_the_name_is_back(self):
        self.set_records("gone.test", "B")
        self.start(self.dns_cluster("gone.test", self.dns.address))
        self.wait_for("B")
        self.set_records("gone.test")
        self.wait_for(503)
        self.wg.wait_for_stderr(failure_warning("gone.test"))
        self.set_records("gone.test", "C")
        self.wait_for("C")

    def test_family_any_uses_a_and_aaaa_records(self):
        self.set_records("dual-any.test", "B", "V6")
        self.start(self.dns_cluster("dual-any.test", self.dns.address))  # family: any
        self.wait_for("B", "V6")

    def test_family_ipv4_leaves_out_aaaa_records(self):
        self.set_records("dual-v4.test", "B", "V6")
        self.start(self.dns_cluster("dual-v4.test", self.dns.address, family="ipv4"))
        self.wait_for("B")

    def test_family_ipv6_leaves_out_a_records(self):
        self.set_records("dual-v6.test", "B", "V6")
        self.start(self.dns_cluster("dual-v6.test", self.dns.address, family="ipv6"))
        self.wait_for("V6")

    def test_host_name_in_endpoints_uses_the_top_level_resolver(self):
        self.set_records("static.test", "B")
        self.start({"endpoints": [f"static.test:{self.port_bcd}"]},
                   top={"dns": {"resolver": self.dns.address}})
        self.wait_for("B")

    def test_host_name_in_endpoints_is_re_resolved_after_the_ttl(self):
        self.set_records("moving.test", "B")
        self.start({"endpoints": [f"moving.test:{self.port_bcd}", self.ups["D"].address]},
                   top={"dns": {"resolver": self.dns.address}})
        self.wait_for("B", "D")
        self.set_records("moving.test", "C")
        self.wait_for("C", "D")


class DnsSrvTest(DnsTestCase):
    """SRV records (fixed for the class) whose targets name upstreams on 127.0.0.1, each on its
    own port: the ports come from the records."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.class_env
        cls.srv_ups = {name: env.upstream(name) for name in ("P0a", "P0b", "P1", "W9", "W1")}
        port = {name: up.port for name, up in cls.srv_ups.items()}
        cls.dns = env.dns_server(hosts={"lo.test": [HOST]}, ttl=1, srv=[
            ("_http._tcp.prio.test", "lo.test", port["P0a"], 0, 10),
            ("_http._tcp.prio.test", "lo.test", port["P0b"], 0, 10),
            ("_http._tcp.prio.test", "lo.test", port["P1"], 1, 10),
            # The priority-0 target has no address: priority 1 is the lowest group with some.
            ("_http._tcp.fallback.test", "nowhere.test", port["P0a"], 0, 10),
            ("_http._tcp.fallback.test", "lo.test", port["P1"], 1, 10),
            ("_http._tcp.weights.test", "lo.test", port["W9"], 0, 90),
            ("_http._tcp.weights.test", "lo.test", port["W1"], 0, 10),
        ])

    def srv_cluster(self, name):
        return {"discovery": {"srv": {"name": name, "resolver": self.dns.address}}}

    def test_srv_ports_of_the_lowest_priority_are_used(self):
        self.start(self.srv_cluster("_http._tcp.prio.test"))
        self.wait_for("P0a", "P0b")

    def test_srv_priority_without_addresses_is_skipped(self):
        self.start(self.srv_cluster("_http._tcp.fallback.test"))
        self.wait_for("P1")

    def test_srv_weights_become_endpoint_weights(self):
        self.start(self.srv_cluster("_http._tcp.weights.test"))
        self.wait_for("W9", "W1")
        answers = upstream_answers(self.port, 100)
        # Weights 90:10 send nine requests in ten to W9 (about that many if the choice is
        # random); equal weights would split them evenly.
        self.assertGreater(answers.count("W9"), 2 * answers.count("W1"), answers)
        self.assertGreater(answers.count("W1"), 0, answers)


class DnsResolverFailureTest(DnsTestCase):
    """Each test has a dnsmasq of its own, which it takes away and brings back. family: ipv4,
    so that no empty AAAA answer can be mistaken for the failure the test waits for."""

    def test_resolver_down_keeps_the_last_hosts_until_it_is_back(self):
        dns = self.env.dns_server(hosts={"svc.test": [ADDRESSES["B"], ADDRESSES["C"]]}, ttl=1)
        # max_refresh bounds the retry backoff, so the way back is seen within seconds.
        self.start(self.dns_cluster("svc.test", dns.address, family="ipv4", max_refresh="2s"))
        self.wait_for("B", "C")
        failures = len(self.wg.stderr_matches(failure_warning("svc.test")))
        dns.kill()  # queries to its port are now refused
        self.wg.wait_for_stderr(failure_warning("svc.test"), failures + 1, POLL_TIMEOUT)
        self.assertEqual(set(upstream_answers(self.port, 10)), {"B", "C"})
        dns.set_hosts({"svc.test": [ADDRESSES["D"]]})  # read when it starts again
        dns.start()
        self.wait_for("D")

    def test_silent_resolver_keeps_the_last_hosts_until_it_answers(self):
        dns = self.env.dns_server(hosts={"quiet.test": [ADDRESSES["B"]]}, ttl=1)
        self.start(self.dns_cluster("quiet.test", dns.address, family="ipv4", max_refresh="2s"))
        self.wait_for("B")
        failures = len(self.wg.stderr_matches(failure_warning("quiet.test")))
        dns.proc.send_signal(signal.SIGSTOP)  # queries time out
        try:
            self.wg.wait_for_stderr(failure_warning("quiet.test"), failures + 1, POLL_TIMEOUT)
            self.assertEqual(set(upstream_answers(self.port, 10)), {"B"})
        finally:
            dns.proc.send_signal(signal.SIGCONT)
        dns.set_hosts({"quiet.test": [ADDRESSES["C"]]})
        self.wait_for("C")
