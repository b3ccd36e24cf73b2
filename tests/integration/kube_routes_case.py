"""What the Ingress and Gateway API tests share. Each Pod is an upstream.py on an address of its
own (127.0.0.10 and up), all on one port. The API server stand-in (kube_api_server.py) holds
Service "web" (port 80, named http), whose EndpointSlice selects pods 0 and 1, and Service "api"
(port 80, unnamed) with pod 2, both with targetPort the Pods' port; waygate reads it through a
kubeconfig with a bearer token, and its config file routes its own hosts to pod 2.

A change is waited for by polling the answers; the log is read only for the lines that say why
something was left out.
"""

import os
import re

from harness import WaygateTestCase, free_port, upstream_answers, wait_for_answers
from kube_api_server import (KubeApiServer, endpoint_slice, service, start_pods,
                             write_kubeconfig)

POLL_TIMEOUT = 10.0  # a failure guard for "the change applied", not a timing expectation
NAMESPACE = "shop"
CLASS = "waygate"  # the IngressClass or GatewayClass waygate reads
PODS = 3
TOKEN = "s3cret"


class KubernetesRoutesCase(WaygateTestCase):
    """No tests of its own. A subclass applies its classes (apply_classes), starts waygate
    (start) and names the source's collection and objects whose warn lines warned() and
    skipped() read (skipped_kind: ("ingresses", "Ingress"))."""

    skipped_kind = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pod_port, cls.pods = start_pods(cls.class_env, PODS)

    def setUp(self):
        super().setUp()
        self.api = KubeApiServer(token=TOKEN).start()
        self.addCleanup(self.api.stop)
        self.api.apply(service(NAMESPACE, "web", [("http", 80, self.pod_port)]))
        self.api.apply(service(NAMESPACE, "api", [(None, 80, self.pod_port)]))
        self.api.apply(endpoint_slice(NAMESPACE, "web-abc12", "web",
                                      [self.pods[0].host, self.pods[1].host], port=self.pod_port))
        self.api.apply(endpoint_slice(NAMESPACE, "api-def34", "api", [self.pods[2].host],
                                      port=self.pod_port, port_name=""))
        self.apply_classes()
        self.kubeconfig = write_kubeconfig(os.path.join(self.env.dir, "kubeconfig"),
                                           self.api.url, token=TOKEN)
        self.port = free_port()
        self.start()

    def apply_classes(self):
        raise NotImplementedError

    def start(self):
        raise NotImplementedError

    def wait_for(self, host, target, *expected):
        return wait_for_answers(self.port, expected, POLL_TIMEOUT, host=host, target=target)

    def answers(self, host, target, count=4):
        return set(upstream_answers(self.port, count, host=host, target=target))

    def warned(self, text):
        """Waits for the source's warn line that goes on with text."""
        collection, _ = self.skipped_kind
        return self.wg.wait_for_stderr(rf"(?m)^.* warn .*routes_source kubernetes {collection} of "
                                       rf"class {CLASS}: {re.escape(text)}.*$")

    def skipped(self, text):
        """Waits for the line saying why an object (named by text) or part of one was left out."""
        return self.warned(f"{self.skipped_kind[1]} {text}")
