#!/usr/bin/env bash
# Build the local cluster's control plane from Go modules into a cache outside the repository:
#   $CLOUDRON_CACHE/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,etcd,kwok,kwokctl,helm}
#   the programs in hack/tools (kind-config-check, argocd-health, kstatus-check, cert-manager-controller)
#   and cert-manager's CRDs, from the module its controller is built from, in $CLOUDRON_CACHE/cert-manager-crds
# Each component is rebuilt only when its pinned version (hack/versions.env) changes.
set -euo pipefail
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.env
source "$HACK_DIR/versions.env"
if [[ -n "${CLOUDRON_OPERATOR_CACHE:-}" ]]; then
  echo "CLOUDRON_OPERATOR_CACHE is now CLOUDRON_CACHE (the operator refuses unknown CLOUDRON_OPERATOR_* variables)" >&2
  exit 2
fi
CACHE=${CLOUDRON_CACHE:-$HOME/.cache/cloudron-operator}
BIN=$CACHE/bin
SRC=$CACHE/src
mkdir -p "$BIN" "$SRC"
export GOWORK=off CGO_ENABLED=0 GOTOOLCHAIN=local
export GOFLAGS=-mod=mod

log() { printf '[build-binaries] %s\n' "$*" >&2; }

# stamp NAME VERSION: true when NAME was already built at VERSION
built_at() { [[ -x "$BIN/$1" && -f "$BIN/.$1.version" && "$(cat "$BIN/.$1.version")" == "$2" ]]; }
mark() { echo "$2" >"$BIN/.$1.version"; }

build_kubernetes() {
  local kver=$KUBE_VERSION minor patch sver dir kmod ld date
  minor=$(echo "$kver" | cut -d. -f2)
  patch=$(echo "$kver" | cut -d. -f3)
  sver="v0.$minor.$patch"   # staging modules are published as v0.<minor>.<patch>
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl) b all_built=true
  for b in "${bins[@]}"; do built_at "$b" "$kver" || all_built=false; done
  if $all_built; then
    log "kubernetes $kver: cached"; return
  fi
  log "kubernetes $kver: building (staging modules $sver)"
  dir=$SRC/kubernetes-$kver
  mkdir -p "$dir"
  cd "$dir"
  [[ -f go.mod ]] || go mod init local.build/kubernetes >/dev/null 2>&1
  kmod=$(go mod download -json "k8s.io/kubernetes@$kver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -n "$kmod" ]] || { log "cannot download k8s.io/kubernetes@$kver"; exit 1; }
  # The published k8s.io/kubernetes module requires its staging modules at v0.0.0 through
  # replace directives that only apply inside its own repository; mirror them with real versions.
  local m
  for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*|\1|p' "$kmod"); do
    go mod edit "-replace=$m=$m@$sver"
  done
  grep -q '^godebug' go.mod || grep -m1 '^godebug' "$kmod" >>go.mod || true
  go get "k8s.io/kubernetes@$kver"
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$kver -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
  for b in "${bins[@]}"; do mark "$b" "$kver"; done
}

build_etcd() {
  if built_at etcd "$ETCD_VERSION"; then log "etcd $ETCD_VERSION: cached"; return; fi
  log "etcd $ETCD_VERSION: building"
  local dir=$SRC/etcd-$ETCD_VERSION
  mkdir -p "$dir"
  cd "$dir"
  [[ -f go.mod ]] || go mod init local.build/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  mark etcd "$ETCD_VERSION"
}

build_kwok() {
  if built_at kwok "$KWOK_VERSION" && built_at kwokctl "$KWOK_VERSION"; then log "kwok $KWOK_VERSION: cached"; return; fi
  log "kwok $KWOK_VERSION: building"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  mark kwok "$KWOK_VERSION"
  mark kwokctl "$KWOK_VERSION"
}

build_helm() {
  if built_at helm "$HELM_VERSION"; then log "helm $HELM_VERSION: cached"; return; fi
  log "helm $HELM_VERSION: building"
  local major=${HELM_VERSION%%.*}   # v4: the module path is helm.sh/helm/v4
  # As upstream's Makefile: the version ldflag, so `helm version` reports the pinned release.
  GOBIN=$BIN go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION -X helm.sh/helm/$major/internal/version.gitTreeState=clean" \
    "helm.sh/helm/$major/cmd/helm@$HELM_VERSION"
  mark helm "$HELM_VERSION"
}

# tool_stamp DIR: the version of a tool under hack/tools, a hash of its sources (tests/harness/tools.py
# computes the same), so that editing a tool rebuilds it.
tool_stamp() {
  (cd "$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
}

# Small programs of our own (hack/tools/*, each its own Go module): kind's config validation,
# Argo CD's Lua runtime for the CloudronApp health check, Flux's kstatus library, and the wiring
# that runs cert-manager's controllers (their module serves no main package).
build_tools() {
  local dir name stamp
  for dir in "$HACK_DIR"/tools/*/; do
    name=$(basename "$dir")
    stamp=$(tool_stamp "$dir")
    if built_at "$name" "$stamp"; then log "$name: cached"; continue; fi
    log "$name: building"
    (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$BIN/$name" .)
    mark "$name" "$stamp"
  done
}

# cert-manager's own CRDs, as released in the module hack/tools/cert-manager-controller is built from.
build_cert_manager_crds() {
  local tool=$HACK_DIR/tools/cert-manager-controller out=$CACHE/cert-manager-crds version dir
  version=$(cd "$tool" && go list -m -f '{{.Version}}' github.com/cert-manager/cert-manager)
  if [[ -f "$out/.version" && "$(cat "$out/.version")" == "$version" ]]; then
    log "cert-manager CRDs $version: cached"; return
  fi
  dir=$(cd "$tool" && go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
  rm -rf "$out" && mkdir -p "$out"
  cp "$dir"/deploy/crds/*.yaml "$out/"
  echo "$version" >"$out/.version"
  log "cert-manager CRDs $version: copied"
}

for part in "${@:-etcd kwok kubernetes helm tools cert_manager_crds}"; do
  for p in $part; do "build_$p"; done
done
log "binaries in $BIN"
