#!/usr/bin/env bash
# pause-image.sh BIN OUT REF - the pod sandbox image: one layer holding /pause (the static binary
# build.sh compiled from Kubernetes' pause.c), packed by umoci as an OCI archive named REF.
# Reused while OUT is newer than BIN. Prints OUT.
set -euo pipefail
bin=$1 out=$2 ref=$3
if [ -s "$out" ] && [ "$out" -nt "$bin" ]; then echo "$out"; exit 0; fi
command -v umoci >/dev/null || { echo "pause-image.sh: umoci is needed (apt-get install umoci)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pause-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root"
cp "$bin" "$work/root/pause"
. "$(dirname "$0")/../../.ci/image/oci-tools.sh"
tar_dir "$work/root" "$work/layer.tar"
umoci init --layout "$work/oci"
umoci new --image "$work/oci:pause"
umoci raw add-layer --image "$work/oci:pause" --history.created 1970-01-01T00:00:00Z "$work/layer.tar"
umoci config --image "$work/oci:pause" --created 1970-01-01T00:00:00Z --os linux --architecture amd64 \
  --config.entrypoint /pause --config.user 65535:65535 --history.created 1970-01-01T00:00:00Z
pack_oci_archive "$work/oci" "$ref" "$out"
echo "$out"
