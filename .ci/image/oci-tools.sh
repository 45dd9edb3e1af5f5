# oci-tools.sh - sourced by the image builds (.ci/image/build.sh, test/controlplane/pause-image.sh).

# tar_dir DIR FILE [EPOCH] - a reproducible tar of DIR's contents: sorted entries, uid/gid 0,
# every mtime at EPOCH (default 0).
tar_dir() {
  local epoch=${3:-0}
  find "$1" -exec touch -h -d "@$epoch" {} +
  tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$1" -cf "$2" .
}

# pack_oci_archive LAYOUT REF OUT [EPOCH] - name every manifest of the OCI layout by its full
# reference (what ctr import, skopeo and crane read), then write the layout as an archive.
pack_oci_archive() {
  node -e '
    const fs = require("fs"); const [file, ref] = process.argv.slice(1);
    const index = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const m of index.manifests) m.annotations = { ...m.annotations, "org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref };
    fs.writeFileSync(file, JSON.stringify(index));' "$1/index.json" "$2"
  mkdir -p "$(dirname "$3")"
  tar_dir "$1" "$3.tmp" "${4:-0}" && mv "$3.tmp" "$3"
}
