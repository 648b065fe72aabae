#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that the Kubernetes controller's
# envtest tests run, from the Go module proxy, into a cache outside the clone:
#   /root/.cache/strata-ci/k8s/kube-<v>-etcd-<v>/{kube-apiserver,etcd}
# A binary already there is kept, so the slow build (kube-apiserver: ~15 min on
# 2 cores) happens once per machine. Prints the directory: use it as
# KUBEBUILDER_ASSETS.
#   scripts/k8s-test-bins.sh            # build what is missing, print the dir
#   scripts/k8s-test-bins.sh --print    # print the dir only
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
cache=${STRATA_CI_CACHE:-/root/.cache/strata-ci}
dir="$cache/k8s/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"

if [ "${1:-}" = "--print" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"

# One build at a time per machine: a second caller waits, then finds the binaries.
exec 9>"$dir/.lock"
flock 9

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod

if [ ! -x "$dir/kube-apiserver" ]; then
  echo "k8s-test-bins: building kube-apiserver $KUBE_VERSION (slow, once per machine)" >&2
  mkdir "$work/kube" && cd "$work/kube"
  go mod init strata.invalid/k8s-test-bins/kube >/dev/null 2>&1
  # k8s.io/kubernetes points its k8s.io/* staging modules at ./staging: point
  # them at the published modules of the same release (v1.37.2 -> v0.37.2).
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  staging="v0.${KUBE_VERSION#v1.}"
  {
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo "replace ("
    sed -n "s#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\t\1 => \1 $staging#p" "$gomod"
    echo ")"
  } >> go.mod
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  go build -trimpath -ldflags "$ldflags" -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
fi

if [ ! -x "$dir/etcd" ]; then
  echo "k8s-test-bins: building etcd $ETCD_VERSION" >&2
  mkdir "$work/etcd" && cd "$work/etcd"
  go mod init strata.invalid/k8s-test-bins/etcd >/dev/null 2>&1
  cat > main.go <<'GO'
// Command etcd is etcd's server main, for envtest.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
  go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" .
  mv "$dir/etcd.tmp" "$dir/etcd"
fi

echo "$dir"
