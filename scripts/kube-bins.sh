#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy, once per
# version, into a cache outside the checkout; prints the directory holding them.
#
# kube-apiserver comes from k8s.io/kubernetes, whose go.mod points every
# k8s.io/* staging module at ./staging/...: a scratch module requires it and
# replaces each of those by its released v0.x version. etcd comes from
# go.etcd.io/etcd/server/v3 (etcdmain) in a second scratch module.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
CACHE=${GOCOMPOSE_CACHE:-$HOME/.cache/gocompose}
OUT="$CACHE/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"
GO=${GO:-go}

if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/kubectl" ] && [ -x "$OUT/etcd" ]; then
	echo "$OUT"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"
staging="v0.${KUBE_VERSION#v1.}"

echo "building kube-apiserver and kubectl $KUBE_VERSION (once; cached in $OUT)" >&2
mkdir "$work/kube" && cd "$work/kube"
gomod=$(GOFLAGS=-mod=mod "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
	printf 'module kubebuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
	grep -E '^[[:space:]]*k8s.io/[^ ]+ => \./staging/' "$gomod" |
		awk -v v="$staging" '{ printf "\t%s => %s %s\n", $1, $1, v }'
	printf ')\n'
} > go.mod
printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n' > tools.go
"$GO" mod tidy >&2
# The version the binaries report (the Kubernetes build sets it the same way).
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
CGO_ENABLED=0 "$GO" build -ldflags "$ldflags" -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
CGO_ENABLED=0 "$GO" build -ldflags "$ldflags" -o "$OUT/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl >&2

echo "building etcd $ETCD_VERSION (once; cached in $OUT)" >&2
mkdir "$work/etcd" && cd "$work/etcd"
printf 'module etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > main.go
"$GO" mod tidy >&2
CGO_ENABLED=0 "$GO" build -o "$OUT/etcd.tmp" . >&2

for b in kube-apiserver kubectl etcd; do mv "$OUT/$b.tmp" "$OUT/$b"; done
echo "$OUT"
