#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl for the real-server tests (tests/realkube) from the
# pinned module set in this folder, and caches them outside the repo keyed by version, so a
# second run (and every test run) finds them without Go. Idempotent: exits at once when the
# cached binaries are there and answer --version.
#   FERROLB_KUBE_CACHE  cache root (default ~/.cache/ferrolb)
set -euo pipefail
cd "$(dirname "$0")"
kube_version=v1.37.2
etcd_version=v3.7.0
bin_dir="${FERROLB_KUBE_CACHE:-$HOME/.cache/ferrolb}/kube-${kube_version}/bin"
names=(kube-apiserver etcd kubectl)

cached() {
  local name
  for name in "${names[@]}"; do
    [ -x "$bin_dir/$name" ] || return 1
  done
  "$bin_dir/kube-apiserver" --version >/dev/null 2>&1 && "$bin_dir/etcd" --version >/dev/null 2>&1
}

if cached; then
  echo "realkube: cached in $bin_dir ($("$bin_dir/kube-apiserver" --version), etcd ${etcd_version})"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "realkube: go is not installed; the real-server tests will skip" >&2
  exit 3
fi

mkdir -p "$bin_dir"
# Build into a scratch dir, then move: a half-written binary must never look cached.
scratch=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# The version stamp is what `--version` and the /version endpoint report; without it the
# server calls itself v0.0.0-master.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${kube_version}"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${kube_version}"
export GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"
total_start=$(date +%s)
build() {
  local name=$1 pkg=$2 extra=$3 start
  start=$(date +%s)
  go build -ldflags "$extra" -o "$scratch/$name" "$pkg"
  echo "realkube: built $name ($pkg) in $(($(date +%s) - start)) s"
}
build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
for name in "${names[@]}"; do
  mv -f "$scratch/$name" "$bin_dir/$name"
done
echo "realkube: ${names[*]} in $bin_dir after $(($(date +%s) - total_start)) s" \
  "($("$bin_dir/kube-apiserver" --version), $("$bin_dir/etcd" --version | head -n 1))"
