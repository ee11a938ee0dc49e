#!/usr/bin/env bash
# Builds the container image localhost/berth-model:latest offline: FROM
# scratch with the berth-model binary, the shared libraries it links and the
# dynamic loader copied in, so no registry is needed.
#   scripts/build-image.sh [BUILD_DIR] [TAG]     (default build/, latest)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
tag="${2:-latest}"
bin="$build_dir/berth-model"
[ -x "$bin" ] || { echo "build-image: $bin is missing: run scripts/setup.sh first" >&2; exit 1; }
engine="$(command -v podman || command -v docker || true)"
[ -n "$engine" ] || { echo "build-image: neither podman nor docker is installed" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/usr/bin" "$ctx/root/tmp" "$ctx/root/opt/ml/model"
cp "$bin" "$ctx/root/usr/bin/berth-model"
# Every library ldd resolves, and the loader, at the same paths.
ldd "$bin" | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$ctx/root$(dirname "$lib")"
  cp -L "$lib" "$ctx/root$lib"
done
cat >"$ctx/Containerfile" <<'EOT'
FROM scratch
COPY root/ /
ENV SM_MODEL_DIR=/opt/ml/model
ENTRYPOINT ["/usr/bin/berth-model"]
CMD ["serve"]
EOT
args=(build --quiet -t "localhost/berth-model:$tag" -f "$ctx/Containerfile")
# podman on Debian 12's hybrid cgroup layout needs runc (crun fails there).
[ "$(basename "$engine")" = podman ] && args=(--runtime runc "${args[@]}" --network none)
"$engine" "${args[@]}" "$ctx" >/dev/null
echo "localhost/berth-model:$tag"
