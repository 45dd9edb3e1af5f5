#!/usr/bin/env bash
# build.sh - build the test control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, embedded etcd, kubectl, helm, kstatus, promtool) and the node (kubelet, kube-proxy, the pause
# binary from Kubernetes' own pause.c) from the Go module proxy into a version-stamped cache.
#
# Output: $CACHE/<stamp>/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,
# kube-proxy,pause,etcd,kubectl,kstatus,helm,promtool,metallb-controller} and metallb-crds/
# where <stamp> hashes this script, go.mod/go.sum and the Go sources here, so the
# binaries are rebuilt only when their inputs change. Prints the bin directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.36.3
HELM_VERSION=v3.22.0
# Prometheus' Go module version (v0.3XX.0 is Prometheus 3.XX): promtool checks and unit-tests the chart's rules.
PROMETHEUS_VERSION=v0.316.0
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "build.sh: Go >= 1.26 is needed at /usr/local/go or on PATH" >&2; exit 1; }
cache=${RELAY_OPERATOR_CONTROLPLANE_CACHE:-$here/../../.cache/controlplane}
stamp=$( (echo "$K8S_VERSION $HELM_VERSION $PROMETHEUS_VERSION $(go env GOVERSION)"; cat "$0" "$here/go.mod" "$here/go.sum" "$here"/etcd/*.go "$here"/kubectl/*.go "$here"/kstatus/*.go "$here"/helm/go.mod "$here"/helm/go.sum "$here"/promtool/go.mod "$here"/promtool/go.sum "$here"/metallb/go.mod "$here"/metallb/go.sum 2>/dev/null) | sha256sum | cut -c1-16)
out=$cache/$stamp/bin
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy pause etcd kubectl kstatus helm promtool metallb-controller)
complete=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || complete=0; done
if [ $complete = 1 ]; then echo "$out"; exit 0; fi
# One build at a time per cache: a second caller waits, then finds the binaries made.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
complete=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || complete=0; done
if [ $complete = 1 ]; then echo "$out"; exit 0; fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitTreeState=clean"
cd "$here"
echo "build.sh: building Kubernetes $K8S_VERSION control plane into $out (cold build takes several minutes)" >&2
go build -trimpath -ldflags "$ld" -o "$out.tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy ./etcd ./kubectl ./kstatus >&2
# The pod sandbox's pause process, from the pause.c that ships in the k8s.io/kubernetes module
# (what registry.k8s.io/pause is built from); static, so its image needs nothing else.
pause_src=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
command -v gcc >/dev/null || { echo "build.sh: gcc is needed for the pause binary (apt-get install gcc libc6-dev)" >&2; exit 1; }
gcc -Os -static -DVERSION=$K8S_VERSION -o "$out.tmp/pause" "$pause_src" >&2
strip "$out.tmp/pause"
cd "$here/helm"
go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" -o "$out.tmp/" helm.sh/helm/v3/cmd/helm >&2
# promtool, in its own module (Prometheus pins its own Kubernetes and OpenTelemetry versions).
cd "$here/promtool"
go build -trimpath -ldflags "-s -w" -o "$out.tmp/" github.com/prometheus/prometheus/cmd/promtool >&2
# MetalLB's controller (IPAM for LoadBalancer Services on the test node) and its CRDs.
cd "$here/metallb"
go build -trimpath -ldflags "-s -w" -o "$out.tmp/metallb-controller" go.universe.tf/metallb/controller
mkdir -p "$out.tmp/metallb-crds"
cp "$(go list -m -f '{{.Dir}}' go.universe.tf/metallb)"/config/crd/bases/*.yaml "$out.tmp/metallb-crds/"
chmod u+w "$out.tmp"/metallb-crds/*.yaml
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
