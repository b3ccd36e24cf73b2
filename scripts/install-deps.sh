#!/usr/bin/env bash
# Installs the Debian 12 packages waygate needs to build, test and benchmark, and the browser tests'
# npm packages (tests/browser/node_modules, from its package-lock.json). Idempotent: when every
# package is already installed it skips apt and npm entirely, so the scripts that call it stay fast
# on rerun.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
  build-essential cmake ninja-build pkg-config clang-format # toolchain and formatting check
  clang-tidy                                                 # scripts/tidy.sh (run-clang-tidy)
  libuv1-dev node-llhttp libssl-dev libyaml-cpp-dev          # waygate itself
  libc-ares-dev libre2-dev                                   # DNS discovery, regex routes
  libnghttp2-dev                                             # HTTP/2 toward clients and upstreams
  nghttp2-client nghttp2-server python3-h2                   # HTTP/2 tests (h2load, nghttp, nghttpd)
  python3-grpcio                                             # gRPC client and server for the tests
  etcd-server nlohmann-json3-dev dnsmasq-base                # discovery: etcd, its JSON, DNS
  python3-kubernetes                                         # checks the Kubernetes API stand-in
  libgtest-dev libbenchmark-dev                              # unit tests, micro-benchmarks
  clang libclang-rt-14-dev                                   # fuzz targets (libFuzzer)
  python3 curl openssl procps util-linux iproute2            # integration tests and demo
  nginx-light haproxy wrk                                    # benchmark peers; nginx: TLS upstream
  prometheus                                                 # promtool checks GET /metrics
  chromium nodejs                                            # the dashboard's browser test
)

# dpkg-query prints nothing for a package it does not know, so compare the installed set by name.
mapfile -t installed < <(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${packages[@]}" \
  2>/dev/null | awk '$1 == "installed" { print $2 }')
missing=()
for p in "${packages[@]}"; do
  [[ " ${installed[*]} " == *" $p "* ]] || missing+=("$p")
done
# kubectl (kubernetes-client), to point at the Kubernetes API stand-in, unless one is installed.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
# Debian's npm is a package of its own; a nodejs from elsewhere (NodeSource) brings npm with it and
# conflicts with Debian's, so npm is installed only when the command is missing.
npm_package=()
command -v npm >/dev/null || npm_package=(npm)
missing+=("${npm_package[@]}")

# playwright-core for tests/browser, exactly as its lock file says; a stamp of the lock file's hash
# tells whether node_modules already holds it.
install_browser_test_modules() {
  local dir=tests/browser
  local stamp=$dir/node_modules/.installed-lock-sha256
  local want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    echo "install-deps: $dir/node_modules is up to date"
    return
  fi
  echo "install-deps: npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund)
  echo "$want" >"$stamp"
}

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  install_browser_test_modules
  exit 0
fi

if ((EUID != 0)); then
  echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# nginx and haproxy are benchmark peers that bench/e2e starts with its own configs (nginx is also
# the TLS upstream of the integration tests, and etcd is started by the discovery tests, each with
# their own configs; prometheus is there for promtool only); stop their packages from starting
# system services (a busy port 80 would otherwise fail the install). Only a policy file we created
# ourselves is removed again.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update
kubectl_package=()
command -v kubectl >/dev/null || kubectl_package=(kubernetes-client)
apt-get install -y --no-install-recommends "${packages[@]}" "${npm_package[@]}" "${kubectl_package[@]}"
install_browser_test_modules
