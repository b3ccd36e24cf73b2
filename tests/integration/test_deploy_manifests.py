"""deploy/kubernetes/: every manifest parses as YAML and holds the kinds its README lists, the
Deployment runs the ConfigMap's config with the ServiceAccount the ClusterRole is bound to, the
ConfigMap's config passes `waygate --check`, and the ClusterRole lets waygate list and watch every
API collection its code reads (found in src/discovery/kubernetes/*.cc, so a collection added
there without its RBAC rule fails here). kubectl is not installed on these machines, so the
manifests are checked by parsing them.
"""

import glob
import os
import re
import shutil
import tempfile
import unittest

import certs
from harness import HERE, WAYGATE_BIN, check_config
from kube_api_server import write_kubeconfig

try:
    import yaml
except ImportError:  # Debian: python3-yaml
    yaml = None

REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEPLOY = os.path.join(REPO_ROOT, "deploy", "kubernetes")
SOURCES = os.path.join(REPO_ROOT, "src", "discovery", "kubernetes")
EXPECTED_KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                  "ConfigMap", "Deployment", "Service", "IngressClass"}


def read_collections():
    """(API group, resource) of every path the code lists and watches, or patches (a
    "RESOURCE/status"): the string literals starting with '/' of each statement that names
    "/api/v1" or "/apis/GROUP/VERSION", joined."""
    found = set()
    for path in glob.glob(os.path.join(SOURCES, "*.cc")):
        with open(path) as f:
            text = f.read()
        for statement in text.split(";"):
            # The path's pieces start with '/'; other arguments (a field selector) do not.
            literals = re.findall(r'"((?:[^"\\]|\\.)*)"', statement)
            joined = "".join(literal for literal in literals if literal.startswith("/"))
            match = re.search(r"(/apis?/\S*)", joined)
            if not match or not (joined.startswith("/api/") or joined.startswith("/apis/")):
                continue
            parts = [p for p in match.group(1).split("/") if p]
            group = "" if parts[0] == "api" else parts[1]
            # .../ingresses/NAME/status: the status subresource, which waygate patches.
            resource = parts[-2] + "/status" if parts[-1] == "status" else parts[-1]
            found.add((group, resource))
    return found


@unittest.skipIf(yaml is None, "python3-yaml is not installed")
class DeployManifestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects = []
        for path in sorted(glob.glob(os.path.join(DEPLOY, "*.yaml"))):
            with open(path) as f:
                for document in yaml.safe_load_all(f):
                    if document is not None:
                        cls.objects.append(document)

    def one(self, kind):
        matches = [o for o in self.objects if o["kind"] == kind]
        self.assertEqual(1, len(matches), f"{kind}: {len(matches)} objects")
        return matches[0]

    def test_every_kind_is_there_once_in_the_waygate_namespace(self):
        self.assertEqual(EXPECTED_KINDS, {o["kind"] for o in self.objects})
        for kind in EXPECTED_KINDS:
            obj = self.one(kind)
            self.assertIn("apiVersion", obj)
            if kind not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass"):
                self.assertEqual("waygate", obj["metadata"]["namespace"], kind)

    def test_the_deployment_runs_the_config_as_the_bound_service_account(self):
        deployment = self.one("Deployment")
        pod = deployment["spec"]["template"]["spec"]
        self.assertEqual(deployment["spec"]["selector"]["matchLabels"],
                         {k: v for k, v in deployment["spec"]["template"]["metadata"]["labels"]
                          .items() if k in deployment["spec"]["selector"]["matchLabels"]})
        binding = self.one("ClusterRoleBinding")
        self.assertEqual(self.one("ClusterRole")["metadata"]["name"], binding["roleRef"]["name"])
        account = self.one("ServiceAccount")["metadata"]
        self.assertIn({"kind": "ServiceAccount", "name": account["name"],
                       "namespace": account["namespace"]}, binding["subjects"])
        self.assertEqual(account["name"], pod["serviceAccountName"])
        container = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        config_mount = next(m for m in container["volumeMounts"]
                            if "configMap" in volumes[m["name"]])
        config_map = self.one("ConfigMap")
        self.assertEqual(config_map["metadata"]["name"],
                         volumes[config_mount["name"]]["configMap"]["name"])
        config_file = container["args"][container["args"].index("--config") + 1]
        self.assertEqual(config_mount["mountPath"], os.path.dirname(config_file))
        self.assertIn(os.path.basename(config_file), config_map["data"])
        # The probes are the admin API's, on the admin port the config listens on.
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        config = yaml.safe_load(config_map["data"][os.path.basename(config_file)])
        self.assertEqual(config["admin"]["address"], f"0.0.0.0:{ports['admin']}")
        self.assertEqual("/live", container["livenessProbe"]["httpGet"]["path"])
        self.assertEqual("/ready", container["readinessProbe"]["httpGet"]["path"])
        # The Service sends 80 and 443 to the listeners.
        listeners = {int(l["address"].rsplit(":", 1)[1]): l for l in config["listeners"]}
        service_ports = {p["port"]: ports[p["targetPort"]]
                         for p in self.one("Service")["spec"]["ports"]}
        self.assertEqual({80, 443}, set(service_ports))
        self.assertNotIn("tls", listeners[service_ports[80]])
        self.assertIn("tls", listeners[service_ports[443]])
        self.assertEqual(self.one("IngressClass")["metadata"]["name"],
                         config["routes_source"]["kubernetes"]["ingress_class"])

    @unittest.skipUnless(os.access(WAYGATE_BIN, os.X_OK), "no waygate binary")
    def test_the_config_map_config_passes_waygate_check(self):
        """With the files the Secrets mount made in a directory of the test's, and a kubeconfig
        in place of the in-cluster access this machine lacks."""
        directory = tempfile.mkdtemp(prefix="waygate-deploy-")
        self.addCleanup(shutil.rmtree, directory, True)
        text = next(iter(self.one("ConfigMap")["data"].values()))
        os.makedirs(os.path.join(directory, "admin"))
        os.makedirs(os.path.join(directory, "tls"))
        with open(os.path.join(directory, "admin", "token"), "w") as f:
            f.write("0123456789abcdef0123456789abcdef\n")
        default = certs.get("default")
        shutil.copyfile(default.cert, os.path.join(directory, "tls", "tls.crt"))
        shutil.copyfile(default.key, os.path.join(directory, "tls", "tls.key"))
        write_kubeconfig(os.path.join(directory, "kubeconfig"), "http://127.0.0.1:1", token="t")
        config = (text.replace("/etc/waygate/", directory + "/")
                  + "kubernetes: { kubeconfig: kubeconfig }\n")
        out = check_config(directory, config, "waygate.yaml")
        self.assertEqual(0, out.returncode, out.stdout + out.stderr)

    def test_the_cluster_role_covers_every_collection_the_code_reads(self):
        collections = read_collections()
        # What the code reads today; a failure here means the parse above went wrong.
        self.assertTrue({("networking.k8s.io", "ingresses"), ("", "services"), ("", "secrets"),
                         ("discovery.k8s.io", "endpointslices")} <= collections, collections)
        self.assertIn(("networking.k8s.io", "ingresses/status"), collections)
        granted = set()
        for rule in self.one("ClusterRole")["rules"]:
            for resource in rule["resources"]:
                # Collections are listed and watched; a status subresource is patched.
                needed = {"patch"} if resource.endswith("/status") else {"list", "watch"}
                if needed <= set(rule["verbs"]):
                    granted |= {(g, resource) for g in rule["apiGroups"]}
        self.assertEqual(set(), collections - granted)


if __name__ == "__main__":
    unittest.main()
