#!/usr/bin/env bash
# build.sh - build the test control plane (kube-apiserver, kube-controller-manager,
# embedded etcd, kubectl, helm) from the Go module proxy into a version-stamped cache.
#
# Output: $CACHE/<stamp>/bin/{kube-apiserver,kube-controller-manager,etcd,kubectl,helm}
# where <stamp> hashes this script, go.mod/go.sum and the Go sources here, so the
# binaries are rebuilt only when their inputs change. Prints the bin directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.36.3
HELM_VERSION=v3.22.0
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "build.sh: Go >= 1.26 is needed at /usr/local/go or on PATH" >&2; exit 1; }
cache=${RELAY_OPERATOR_CONTROLPLANE_CACHE:-$here/../../.cache/controlplane}
stamp=$( (echo "$K8S_VERSION $HELM_VERSION $(go env GOVERSION)"; cat "$0" "$here/go.mod" "$here/go.sum" "$here"/etcd/*.go "$here"/kubectl/*.go "$here"/helm/go.mod "$here"/helm/go.sum 2>/dev/null) | sha256sum | cut -c1-16)
out=$cache/$stamp/bin
bins=(kube-apiserver kube-controller-manager etcd kubectl helm)
complete=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || complete=0; done
if [ $complete = 1 ]; then echo "$out"; exit 0; fi
mkdir -p "$out.tmp"
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitTreeState=clean"
cd "$here"
echo "build.sh: building Kubernetes $K8S_VERSION control plane into $out (cold build takes several minutes)" >&2
go build -trimpath -ldflags "$ld" -o "$out.tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager ./etcd ./kubectl >&2
cd "$here/helm"
go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" -o "$out.tmp/" helm.sh/helm/v3/cmd/helm >&2
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
