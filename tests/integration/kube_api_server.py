"""A stand-in for a Kubernetes API server, serving EndpointSlices (discovery.k8s.io/v1), Services
and Secrets (v1), Ingresses and IngressClasses (networking.k8s.io/v1), and the Gateway API's
GatewayClasses, Gateways and HTTPRoutes (gateway.networking.k8s.io/v1, the CRDs' objects with the
defaults their schemas give), with label and field selectors (equality only); an update by apply()
leaves an object's status as it was, as the status subresource does.

No Kubernetes API server can be installed or run on these machines, so the tests run this one. It
follows the documented wire protocol ("Kubernetes API Concepts": efficient detection of changes,
watch bookmarks, 410 Gone) rather than any implementation: a LIST answers an EndpointSliceList
(an IngressList, ...) whose metadata carries the collection's resourceVersion (items without kind
and apiVersion, as the API server writes them); a WATCH (?watch=1) answers a chunked stream of
JSON lines {"type": ADDED | MODIFIED | DELETED | BOOKMARK | ERROR, "object": ...} from the
resourceVersion asked for, ended by the server after timeoutSeconds; a resourceVersion older than
the last compaction is answered with an ERROR event holding a 410 Expired Status (as the API
server's watch cache does) or, with expired_as="status", with HTTP 410. A LIST with limit=N answers
at most N items (max_page caps it lower, as a server may) and a metadata.continue token for the
next page, every page of the first one's resourceVersion; a token from before the last compaction
is 410 Expired. Requests need
"Authorization: Bearer <token>" (401 Status otherwise); TLS with a test certificate, or plain HTTP.
Its fidelity is checked against Debian's python3-kubernetes client in
test_kubernetes_api_server.py.

The test drives it in-process: apply() and delete() change objects (endpoint_slice(), service(),
tls_secret(), ingress(), ingress_class(), gateway_class(), gateway() and http_route() write them
the way a cluster returns them), compact() forgets history,
bookmark() sends a BOOKMARK on every open watch, stop() and start() take it away and bring it back
on the same port (keeping its objects and resourceVersion, as a restarted API server would over
the same etcd). A PATCH of an object's status subresource (.../NAME/status) with a JSON merge patch
(RFC 7386, Content-Type application/merge-patch+json) changes its status alone, as the API server
does: a new resourceVersion, the same generation, a MODIFIED event; a patch naming another
resourceVersion than the object's is 409 Conflict.
"""

import base64
import copy
import json
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port

HOST = "127.0.0.1"
GROUP_VERSION = "discovery.k8s.io/v1"
NETWORKING = "networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_API = f"{GATEWAY_GROUP}/v1"
# The collections served: (API path prefix, resource) -> (kind, apiVersion, namespaced).
RESOURCES = {
    (("apis", "discovery.k8s.io", "v1"), "endpointslices"): ("EndpointSlice", GROUP_VERSION, True),
    (("apis", "networking.k8s.io", "v1"), "ingresses"): ("Ingress", NETWORKING, True),
    (("apis", "networking.k8s.io", "v1"), "ingressclasses"): ("IngressClass", NETWORKING, False),
    (("api", "v1"), "services"): ("Service", "v1", True),
    (("apis", GATEWAY_GROUP, "v1"), "gatewayclasses"): ("GatewayClass", GATEWAY_API, False),
    (("apis", GATEWAY_GROUP, "v1"), "gateways"): ("Gateway", GATEWAY_API, True),
    (("apis", GATEWAY_GROUP, "v1"), "httproutes"): ("HTTPRoute", GATEWAY_API, True),
    (("api", "v1"), "secrets"): ("Secret", "v1", True),
}
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def write_kubeconfig(path, server, token=None, token_file=None, ca=None, namespace=None):
    """Writes a kubeconfig at path, laid out as kubectl writes one, for a client of `server` (a
    URL) with a bearer token or a file holding one, the CA file that signed a TLS server's
    certificate, and a default namespace; returns path."""
    ca_line = f"\n    certificate-authority: {ca}" if ca else ""
    user_line = f"token: {token}" if token else f"tokenFile: {token_file}"
    namespace_line = f"\n    namespace: {namespace}" if namespace else ""
    with open(path, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test-cluster
  cluster:
    server: {server}{ca_line}
users:
- name: waygate
  user:
    {user_line}
contexts:
- name: test
  context:
    cluster: test-cluster
    user: waygate{namespace_line}
""")
    return path


def start_pods(env, count):
    """Upstreams standing in for Pods behind one targetPort: pod0, pod1... on addresses of their
    own (127.0.0.10 and up), all on one port, started in env. (port, [upstreams])."""
    port = free_port()
    return port, [env.upstream(f"pod{i}", host=f"127.0.0.{10 + i}", port=port)
                  for i in range(count)]


def status(code, reason, message):
    """A metav1.Status object, as the API server answers failures."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def endpoint_slice(namespace, name, service, addresses, port=8080, port_name="http",
                   not_ready=(), terminating=(), zone=None, publish_not_ready=False):
    """An EndpointSlice written the way a cluster's EndpointSlice controller writes one: an
    endpoint per address with its conditions and the Pod it targets; `not_ready` and
    `terminating` are addresses among `addresses` in those states. With publish_not_ready (the
    Service's publishNotReadyAddresses) the controller marks every endpoint ready, terminating
    ones too."""
    endpoints = []
    for i, address in enumerate(addresses):
        is_terminating = address in terminating
        ready = publish_not_ready or (address not in not_ready and not is_terminating)
        endpoint = {
            "addresses": [address],
            "conditions": {"ready": ready, "serving": ready or is_terminating,
                           "terminating": is_terminating},
            "targetRef": {"kind": "Pod", "namespace": namespace,
                          "name": f"{service}-7c9f8d5b6-{i:05d}",
                          "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{address}"))},
            "nodeName": "node-1",
        }
        if zone:
            endpoint["zone"] = zone
        endpoints.append(endpoint)
    return {
        "kind": "EndpointSlice",
        "apiVersion": GROUP_VERSION,
        "metadata": {
            "name": name,
            "generateName": f"{service}-",
            "namespace": namespace,
            "labels": {SERVICE_NAME_LABEL: service,
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": service,
                                 "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, service)),
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": port_name, "protocol": "TCP", "port": port}],
    }


def service(namespace, name, ports):
    """A ClusterIP Service; ports: (name or None, port, targetPort) each."""
    return {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                 "selector": {"app": name}, "sessionAffinity": "None",
                 "ports": [dict({"name": port_name} if port_name else {}, protocol="TCP",
                                port=port, targetPort=target)
                           for port_name, port, target in ports]},
        "status": {"loadBalancer": {}},
    }


def ingress_class(name, default=False, controller="waygate.dev/ingress-controller"):
    meta = {"name": name}
    if default:
        meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"kind": "IngressClass", "apiVersion": NETWORKING, "metadata": meta,
            "spec": {"controller": controller}}


def ingress(namespace, name, rules=(), class_name=None, default_backend=None, annotations=None,
            tls=()):
    """An Ingress. rules: (host or None, [(pathType, path, service, port)]) each, port a number
    or a port name; default_backend: (service, port) or None; annotations: a dict or None; tls:
    (hosts, secretName) each."""
    def backend(service_name, port):
        key = "number" if isinstance(port, int) else "name"
        return {"service": {"name": service_name, "port": {key: port}}}

    spec = {"rules": []}
    if class_name:
        spec["ingressClassName"] = class_name
    if default_backend:
        spec["defaultBackend"] = backend(*default_backend)
    for host, paths in rules:
        rule = {"http": {"paths": [{"pathType": path_type, "path": path,
                                    "backend": backend(service_name, port)}
                                   for path_type, path, service_name, port in paths]}}
        if host:
            rule["host"] = host
        spec["rules"].append(rule)
    if not spec["rules"]:
        del spec["rules"]
    if tls:
        spec["tls"] = [{"hosts": list(hosts), "secretName": secret} for hosts, secret in tls]
    metadata = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"kind": "Ingress", "apiVersion": NETWORKING, "metadata": metadata, "spec": spec,
            "status": {"loadBalancer": {}}}


def _pending(*types):
    """The conditions the Gateway API CRDs default a new object's status to."""
    return [{"type": t, "status": "Unknown", "reason": "Pending", "message": "Waiting for controller",
             "lastTransitionTime": "1970-01-01T00:00:00Z", "observedGeneration": 0}
            for t in types]


def gateway_class(name, controller="waygate.dev/gateway-controller"):
    return {"kind": "GatewayClass", "apiVersion": GATEWAY_API, "metadata": {"name": name},
            "spec": {"controllerName": controller},
            "status": {"conditions": _pending("Accepted")}}


def gateway(namespace, name, class_name, listeners=(("http", 80, None),), allowed_from="Same"):
    """A Gateway; listeners: (name, port, hostname or None) each, HTTP, allowing HTTPRoutes from
    `allowed_from` namespaces (the CRD's default: Same)."""
    spec_listeners = []
    for listener_name, port, hostname in listeners:
        listener = {"name": listener_name, "port": port, "protocol": "HTTP",
                    "allowedRoutes": {"namespaces": {"from": allowed_from}}}
        if hostname:
            listener["hostname"] = hostname
        spec_listeners.append(listener)
    return {"kind": "Gateway", "apiVersion": GATEWAY_API,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"gatewayClassName": class_name, "listeners": spec_listeners},
            "status": {"conditions": _pending("Accepted", "Programmed")}}


def backend_ref(service_name, port, weight=1):
    return {"group": "", "kind": "Service", "name": service_name, "port": port, "weight": weight}


def http_rule(backends=(), matches=None, filters=None):
    """An HTTPRoute rule; backends: (service, port) or (service, port, weight) each; matches and
    filters as the API writes them (defaults filled in by http_route)."""
    rule = {"backendRefs": [backend_ref(*b) for b in backends]}
    if matches is not None:
        rule["matches"] = matches
    if filters is not None:
        rule["filters"] = filters
    return rule


def http_route(namespace, name, parents, hostnames=(), rules=()):
    """An HTTPRoute; parents: Gateway names, or (name, sectionName) pairs, in the route's
    namespace. The CRD schema's defaults are filled in as the API server does: a rule without
    matches matches PathPrefix /, a path match without type is PathPrefix, header and query
    matches without type are Exact, a parentRef's group and kind, a backendRef's weight."""
    parent_refs = []
    for parent in parents:
        ref = {"group": GATEWAY_GROUP, "kind": "Gateway"}
        if isinstance(parent, tuple):
            ref["name"], ref["sectionName"] = parent
        else:
            ref["name"] = parent
        parent_refs.append(ref)
    rules = copy.deepcopy(list(rules)) or [{}]
    for rule in rules:
        rule.setdefault("matches", [{"path": {"type": "PathPrefix", "value": "/"}}])
        for match in rule["matches"]:
            match.setdefault("path", {"type": "PathPrefix", "value": "/"})
            match["path"].setdefault("type", "PathPrefix")
            for key in ("headers", "queryParams"):
                for item in match.get(key, []):
                    item.setdefault("type", "Exact")
        for ref in rule.get("backendRefs", []):
            ref.setdefault("weight", 1)
    spec = {"parentRefs": parent_refs, "rules": rules}
    if hostnames:
        spec["hostnames"] = list(hostnames)
    return {"kind": "HTTPRoute", "apiVersion": GATEWAY_API,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec,
            "status": {"parents": []}}


def _merge_patch(target, patch):
    """RFC 7386: objects merge member by member, null removes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def tls_secret(namespace, name, cert_pem, key_pem):
    """A Secret of type kubernetes.io/tls (`kubectl create secret tls`): the PEM bytes (str or
    bytes) base64-encoded in data."""
    def b64(text):
        return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()
    return {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace},
            "type": "kubernetes.io/tls", "data": {"tls.crt": b64(cert_pem), "tls.key": b64(key_pem)}}


def _field_selector_matches(selector, obj):
    """Equality-based field selectors ("type=kubernetes.io/tls", "metadata.name!=x"), fields as
    dotted paths into the object."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        field, value = term.replace("!=", "=").replace("==", "=").split("=", 1)
        found = obj
        for part in field.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if (str(found) == value) == negate:
            return False
    return True


def _true(value):
    """A boolean query parameter as the API server reads one (Go's strconv.ParseBool)."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _selector_matches(selector, labels):
    """Equality-based label selectors: "a=b", "a==b", "a!=b", "a", comma-separated."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


class KubeApiServer:
    def __init__(self, token="test-token", cert=None, port=0, expired_as="event"):
        """cert: a certs.Cert to serve TLS with, or None for plain HTTP. port: 0 for one from
        free_port(), not a bind to port 0: start() after stop() binds the same port again, and
        one the kernel picked could be taken in between by anyone."""
        self.token = token
        self.cert = cert
        self.port = port or free_port()
        self.expired_as = expired_as
        self.lock = threading.Condition()
        self.objects = {}  # (kind, namespace, name) -> the object as stored ("" namespace: none)
        self.history = []  # (resourceVersion, type, object), oldest first
        self.resource_version = 1000
        self.compacted = 0  # watches from a version below this are expired
        self.requests = []  # (method, path, query dict, status) of each request
        self._watches = set()  # open watch streams (their handlers)
        # A LIST with limit gets at most this many items a page (the server may send fewer than
        # asked); None: limit as asked.
        self.max_page = None
        self._continues = {}  # continue token -> (resourceVersion, the items left)
        self._connections = set()
        self._server = None
        self._thread = None

    # -- process -------------------------------------------------------------------------------

    @property
    def url(self):
        return f"{'https' if self.cert else 'http'}://{HOST}:{self.port}"

    def start(self):
        server = ThreadingHTTPServer((HOST, self.port), _Handler, bind_and_activate=False)
        server.allow_reuse_address = True
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
        server.api = self
        if self.cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert.cert, self.cert.key)
            server.tls_context = context
        else:
            server.tls_context = None
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops listening and cuts every open connection (watches included)."""
        if not self._server:
            return
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            connections = list(self._connections)
            self._connections.clear()
            self._watches.clear()
            self.lock.notify_all()
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server = None

    # -- objects -------------------------------------------------------------------------------

    def _next_version(self):
        self.resource_version += 1
        return str(self.resource_version)

    def apply(self, obj, created=None):
        """Creates or replaces an object (ADDED or MODIFIED); returns it as stored. created: the
        creationTimestamp of a new object ("2026-01-01T00:00:00Z"), as if it had been made then;
        by default now."""
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        with self.lock:
            old = self.objects.get(key)
            meta["resourceVersion"] = self._next_version()
            if old:
                meta["uid"] = old["metadata"]["uid"]
                meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                meta["generation"] = old["metadata"]["generation"] + 1
                if "status" in old:  # an update leaves the status subresource alone
                    obj["status"] = old["status"]
            else:
                meta["uid"] = str(uuid.uuid4())
                meta["creationTimestamp"] = created or time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                     time.gmtime())
                meta["generation"] = 1
            self.objects[key] = obj
            self._record("MODIFIED" if old else "ADDED", obj)
        return obj

    def delete(self, namespace, name, kind="EndpointSlice"):
        with self.lock:
            obj = copy.deepcopy(self.objects.pop((kind, namespace, name)))
            obj["metadata"]["resourceVersion"] = self._next_version()
            self._record("DELETED", obj)

    def _record(self, event_type, obj):
        self.history.append((int(obj["metadata"]["resourceVersion"]), event_type, obj))
        self.lock.notify_all()

    def patch_status(self, kind, namespace, name, patch):
        """Applies a merge patch's status to the object's; returns (HTTP status, body)."""
        with self.lock:
            old = self.objects.get((kind, namespace, name))
            if not old:
                return 404, status(404, "NotFound", f'{kind.lower()} "{name}" not found')
            asked = (patch.get("metadata") or {}).get("resourceVersion")
            if asked and asked != old["metadata"]["resourceVersion"]:
                return 409, status(409, "Conflict", f'Operation cannot be fulfilled on '
                                   f'{kind.lower()} "{name}": the object has been modified; '
                                   "please apply your changes to the latest version and try "
                                   "again")
            obj = copy.deepcopy(old)
            if "status" in patch:
                obj["status"] = _merge_patch(old.get("status"), patch["status"]) or {}
            obj["metadata"]["resourceVersion"] = self._next_version()
            self.objects[(kind, namespace, name)] = obj
            self._record("MODIFIED", obj)
            return 200, copy.deepcopy(obj)

    def compact(self):
        """Forgets the history up to now: a watch from an older resourceVersion is expired."""
        with self.lock:
            self.compacted = self.resource_version
            self.history = []

    def bookmark(self):
        """A BOOKMARK on every open watch, at the current resourceVersion."""
        with self.lock:
            for watch in self._watches:
                watch.bookmark_pending = True
            self.lock.notify_all()

    def watch_count(self, kind=None):
        """The watches open now; with kind ("EndpointSlice"), those of that kind only."""
        with self.lock:
            return self._watch_count(kind)

    def _watch_count(self, kind):
        return sum(1 for watch in self._watches if kind is None or watch.watch_kind == kind)

    def wait_for_watch(self, count=1, timeout=10.0, kind=None):
        """Waits until `count` watches (of kind, when given) are open (a failure guard, not a
        timing expectation)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._watch_count(kind) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {count} open {kind or ''} watch(es) within "
                                         f"{timeout}s")
                self.lock.wait(left)

    def requests_seen(self, kind=None):
        """The requests so far; kind "list" or "watch" keeps those GETs only."""
        with self.lock:
            return [r for r in self.requests
                    if kind is None or (r[0] == "GET" and
                                        ("watch" if _true(r[2].get("watch")) else "list") == kind)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        context = self.server.tls_context
        if context:
            self.request = context.wrap_socket(self.request, server_side=True)
            self.connection = self.request
        super().setup()
        with self.server.api.lock:
            self.server.api._connections.add(self.request)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.api.lock:
                self.server.api._connections.discard(self.request)
            if self.server.tls_context:
                self.request.close()  # the TLS socket took the accepted one's descriptor

    def log_message(self, *args):
        pass

    def _send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, path, query, code):
        with self.server.api.lock:
            self.server.api.requests.append(("GET", path, query, code))

    def do_GET(self):
        api = self.server.api
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        if self.headers.get("Authorization") != f"Bearer {api.token}":
            self._record(url.path, query, 401)
            self._send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        if self._discovery(url.path, query):
            return
        # PREFIX[/namespaces/NS]/RESOURCE, PREFIX one of RESOURCES' (/apis/GROUP/VERSION, /api/v1)
        namespace = None
        found = None
        for (prefix, resource), (kind, api_version, namespaced) in RESOURCES.items():
            rest = parts[len(prefix):]
            if tuple(parts[:len(prefix)]) != prefix:
                continue
            if rest == [resource]:
                found = (kind, api_version)
            elif namespaced and len(rest) == 3 and rest[0] == "namespaces" and rest[2] == resource:
                found = (kind, api_version)
                namespace = rest[1]
        if not found:
            self._record(url.path, query, 404)
            self._send_json(404, status(404, "NotFound", "the server could not find the "
                                        "requested resource"))
            return
        selector = query.get("labelSelector", "")
        fields = query.get("fieldSelector", "")
        kind, api_version = found

        def wanted(obj):
            meta = obj["metadata"]
            return (obj["kind"] == kind
                    and (namespace is None or meta.get("namespace", "") == namespace)
                    and _selector_matches(selector, meta.get("labels", {}))
                    and _field_selector_matches(fields, obj))

        if _true(query.get("watch")):
            self._watch(url.path, query, wanted, kind, api_version)
        else:
            self._list(url.path, query, wanted, kind, api_version)

    def _list(self, path, query, wanted, kind, api_version):
        """A LIST; with limit, one page of it and a continue token for the rest (the rest as of
        the first page: every page is of its resourceVersion), as the API server pages."""
        api = self.server.api
        limit = int(query.get("limit") or 0)
        token = query.get("continue")
        with api.lock:
            if token:
                version, items = api._continues.pop(token, (None, None))
                if version is None or int(version) < api.compacted:
                    api.requests.append(("GET", path, query, 410))
                    self._send_json(410, status(
                        410, "Expired", "The provided continue parameter is too old to display a "
                        "consistent list result. You can start a new list without the continue "
                        "parameter."))
                    return
            else:
                items = []
                for key in sorted(api.objects):
                    item = api.objects[key]
                    if wanted(item):
                        item = copy.deepcopy(item)
                        item.pop("kind"), item.pop("apiVersion")
                        items.append(item)
                version = str(api.resource_version)
            metadata = {"resourceVersion": version}
            if limit:
                size = min(limit, api.max_page or limit)
                if len(items) > size:
                    items, rest = items[:size], items[size:]
                    token = str(uuid.uuid4())
                    api._continues[token] = (version, rest)
                    metadata["continue"] = token
                    metadata["remainingItemCount"] = len(rest)
            api.requests.append(("GET", path, query, 200))
        self._send_json(200, {"kind": f"{kind}List", "apiVersion": api_version,
                              "metadata": metadata, "items": items})

    def do_PATCH(self):
        api = self.server.api
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def answer(code, obj):
            with api.lock:
                api.requests.append(("PATCH", url.path, body, code))
            self._send_json(code, obj)

        if self.headers.get("Authorization") != f"Bearer {api.token}":
            answer(401, status(401, "Unauthorized", "Unauthorized"))
            return
        # PREFIX[/namespaces/NS]/RESOURCE/NAME/status
        parts = url.path.strip("/").split("/")
        found = None
        for (prefix, resource), (kind, _, namespaced) in RESOURCES.items():
            rest = parts[len(prefix):]
            if tuple(parts[:len(prefix)]) != prefix or len(rest) < 3 or rest[-1] != "status":
                continue
            if not namespaced and rest[:-2] == [resource]:
                found = (kind, "", rest[-2])
            elif namespaced and len(rest) == 5 and rest[0] == "namespaces" and rest[2] == resource:
                found = (kind, rest[1], rest[3])
        if not found:
            answer(404, status(404, "NotFound", "the server could not find the requested "
                               "resource"))
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != "application/merge-patch+json":
            answer(415, status(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted "
                               "media types include: application/merge-patch+json"))
            return
        try:
            patch = json.loads(body)
        except ValueError as error:
            answer(400, status(400, "BadRequest", f"error decoding patch: {error}"))
            return
        answer(*api.patch_status(*found, patch if isinstance(patch, dict) else {}))

    def _discovery(self, path, query):
        """The discovery documents a client such as kubectl reads first (the unaggregated ones,
        which a server answers when the aggregated kind is not asked for or not served): /api,
        /apis, and each group version's resources. False for any other path."""
        versions = {}  # group version -> its resources
        for (prefix, resource), (kind, api_version, namespaced) in RESOURCES.items():
            versions.setdefault(api_version, []).append(
                {"name": resource, "singularName": kind.lower(), "namespaced": namespaced,
                 "kind": kind, "verbs": ["list", "watch"]})
            versions[api_version].append(
                {"name": f"{resource}/status", "singularName": "", "namespaced": namespaced,
                 "kind": kind, "verbs": ["patch"]})
        if path == "/api":
            body = {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                    "serverAddress": f"{HOST}:{self.server.api.port}"}]}
        elif path == "/apis":
            groups = []
            for group_version in versions:
                if "/" in group_version:
                    group, version = group_version.split("/")
                    entry = {"groupVersion": group_version, "version": version}
                    groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
            body = {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        elif path in ("/api/v1", *(f"/apis/{v}" for v in versions if "/" in v)):
            group_version = path.removeprefix("/api/").removeprefix("/apis/")
            body = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                    "resources": versions[group_version]}
        else:
            return False
        self._record(path, query, 200)
        self._send_json(200, body)
        return True

    def _chunk(self, event_type, obj):
        line = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()

    def _watch(self, path, query, wanted, kind, api_version):
        api = self.server.api
        asked = query.get("resourceVersion", "")
        timeout = float(query.get("timeoutSeconds", "1800"))
        bookmarks = _true(query.get("allowWatchBookmarks"))
        with api.lock:
            expired = asked not in ("", "0") and int(asked) < api.compacted
            if expired:
                message = f"too old resource version: {asked} ({api.compacted})"
                if api.expired_as == "status":
                    api.requests.append(("GET", path, query, 410))
                    self._send_json(410, status(410, "Expired", message))
                    return
            api.requests.append(("GET", path, query, 200))
            if asked in ("", "0"):
                # Without a version, a watch starts with the current objects as ADDED events.
                backlog = [("ADDED", o) for _, o in sorted(api.objects.items())]
                seen = api.resource_version
            else:
                seen = int(asked)
                backlog = [(t, o) for v, t, o in api.history if v > seen]
            self.bookmark_pending = False
            self.watch_kind = kind
            api._watches.add(self)
            api.lock.notify_all()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if expired:
                self._chunk("ERROR", status(410, "Expired", message))
                self.wfile.write(b"0\r\n\r\n")
                return
            deadline = time.monotonic() + timeout
            while True:
                for event_type, obj in backlog:
                    seen = max(seen, int(obj["metadata"]["resourceVersion"]))
                    if wanted(obj):
                        self._chunk(event_type, obj)
                with api.lock:
                    while True:
                        if self not in api._watches:
                            return  # the server stopped
                        backlog = [(t, o) for v, t, o in api.history if v > seen]
                        if backlog or time.monotonic() >= deadline:
                            break
                        if self.bookmark_pending:
                            break
                        api.lock.wait(min(0.5, deadline - time.monotonic()))
                    send_bookmark = self.bookmark_pending and bookmarks and not backlog
                    self.bookmark_pending = False
                    version = str(api.resource_version)
                if send_bookmark:
                    self._chunk("BOOKMARK", {"kind": kind, "apiVersion": api_version,
                                             "metadata": {"resourceVersion": version}})
                    seen = int(version)
                if not backlog and time.monotonic() >= deadline:
                    self.wfile.write(b"0\r\n\r\n")  # the server ends the watch
                    self.wfile.flush()
                    return
        except OSError:
            self.close_connection = True
        finally:
            with api.lock:
                api._watches.discard(self)
