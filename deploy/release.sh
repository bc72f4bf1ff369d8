#!/usr/bin/env bash
# Builds otpatch's release archives, for people who would rather not compile:
#
#   bash deploy/release.sh VERSION [OUT]
#
# For each target (OTPATCH_RELEASE_TARGETS, default "linux/amd64 linux/arm64") it writes
# OUT/otpatch_VERSION_OS_ARCH.tar.gz (default OUT: dist) holding the static binary, which runs
# every role (dev with the embedded Temporal server, server, worker, site worker, agent), the
# README and the systemd units, and then OUT/SHA256SUMS over the archives. The build is
# reproducible: the same commit, Go version and VERSION give the same bytes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=${1:?usage: bash deploy/release.sh VERSION [OUT]}
out=${2:-dist}
[[ $version =~ ^v?[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z.-]+)?$ ]] || { echo "release.sh: VERSION must look like 1.4.0 or v1.4.0-rc.1, got '$version'" >&2; exit 2; }
targets=${OTPATCH_RELEASE_TARGETS:-"linux/amd64 linux/arm64"}
mkdir -p "$out"
archives=()
for target in $targets; do
  os=${target%/*}
  arch=${target#*/}
  name="otpatch_${version}_${os}_${arch}"
  stage="$out/$name"
  rm -rf "$stage"
  mkdir -p "$stage"
  echo "building $name"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags "-s -w -buildid= -X main.version=$version" -o "$stage/otpatch" ./cmd/otpatch
  cp README.md "$stage/"
  cp -r deploy/systemd "$stage/systemd"
  tar -C "$out" --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00:00Z' -cf - "$name" | gzip -n > "$out/$name.tar.gz"
  rm -rf "$stage"
  archives+=("$name.tar.gz")
done
(cd "$out" && sha256sum "${archives[@]}" > SHA256SUMS)
echo "wrote ${archives[*]} and SHA256SUMS to $out"
