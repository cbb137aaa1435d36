#!/usr/bin/env bash
# Build the local cluster's control plane from Go modules into a cache outside the repository:
#   $CLOUDRON_CACHE/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,etcd,kwok,kwokctl,helm}
#   and kwok's default stages, from the module kwok is built from, in $CLOUDRON_CACHE/kwok-stages
#   the programs in hack/tools (kind-config-check, argocd-health, kstatus-check, cert-manager-controller)
#   and cert-manager's CRDs, from the module its controller is built from, in $CLOUDRON_CACHE/cert-manager-crds
#   $CLOUDRON_CACHE/bin/traefik, the cluster's ingress and Gateway API controller
#   and the Gateway API CRDs (standard and experimental channels) in $CLOUDRON_CACHE/gateway-api-crds
#   $CLOUDRON_CACHE/bin/versitygw, the S3-compatible server of the backup tests
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
  if built_at kwok "$KWOK_VERSION" && built_at kwokctl "$KWOK_VERSION"; then
    log "kwok $KWOK_VERSION: cached"
  else
    log "kwok $KWOK_VERSION: building"
    GOBIN=$BIN go install -trimpath -ldflags "-s -w" \
      "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
    mark kwok "$KWOK_VERSION"
    mark kwokctl "$KWOK_VERSION"
  fi
  export_kwok_stages
}

# kwok's default stages, the files under kustomize/stage that kwokctl embeds and gives kwok when its
# configuration has no Stage: $CACHE/kwok-stages/<name>.yaml, from the module kwok is built from.
# The harness (tests/harness/cluster.py, kwok_stages) passes them to kwokctl with one change.
KWOK_STAGES=(
  node/fast/node-initialize.yaml
  node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  pod/fast/pod-ready.yaml
  pod/fast/pod-complete.yaml
  pod/fast/pod-delete.yaml
)

export_kwok_stages() {
  local out=$CACHE/kwok-stages dir f
  if [[ -f "$out/.version" && "$(cat "$out/.version")" == "$KWOK_VERSION" ]]; then
    log "kwok stages $KWOK_VERSION: cached"; return
  fi
  dir=$(cd "$SRC" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -n "$dir" ]] || { log "cannot download sigs.k8s.io/kwok@$KWOK_VERSION"; exit 1; }
  for f in "${KWOK_STAGES[@]}"; do
    [[ -f "$dir/kustomize/stage/$f" ]] || { log "kwok $KWOK_VERSION has no kustomize/stage/$f: update KWOK_STAGES"; exit 1; }
  done
  rm -rf "$out" && mkdir -p "$out"
  for f in "${KWOK_STAGES[@]}"; do cp "$dir/kustomize/stage/$f" "$out/"; done
  echo "$KWOK_VERSION" >"$out/.version"
  log "kwok stages $KWOK_VERSION: copied"
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

# Traefik, the cluster's ingress and Gateway API controller. Its module cannot be `go install`ed:
# its go.mod has replace directives (forks, and a nested module by local path) and an exclude,
# which apply only when it is the main module. As build_kubernetes: a consumer module of our own
# that mirrors them, then the version ldflags of Traefik's Makefile. Three stand-ins, each checked
# against what the pinned release uses, so that a new release that needs more fails here:
# - its nested module dynamic/ext is left out of the module zip and no proxy serves it: the two
#   empty extension types that the open-source build declares there;
# - a fork the proxy refuses at the pinned commit (TRAEFIK_FORK_FALLBACKS): its earlier commit;
# - the ACME DNS-01 providers of lego, many of whose SDK modules the proxy refuses: lego's provider
#   registry knows none (nothing here reaches an ACME server anyway).
TRAEFIK_FORK_FALLBACKS=(
  # go-http-auth's commit of Traefik <= 3.6 (BasicAuth, CheckSecret, DigestAuth: the same API).
  "github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e"
)

# mod_directives GOMOD: each replace and exclude of a go.mod, single-line or in a block, as
# "replace OLD [VERSION] => NEW [VERSION]" or "exclude MODULE VERSION", comments dropped.
mod_directives() {
  sed 's|//.*||' "$1" | awk '
    /^(replace|exclude)[[:space:]]*\(/ { block = $1; next }
    block != "" && /^[[:space:]]*\)/ { block = ""; next }
    block != "" && NF { $1 = $1; print block, $0; next }
    /^(replace|exclude)[[:space:]]/ { kind = $1; $1 = ""; $0 = $0; $1 = $1; print kind, $0 }'
}

build_traefik() {
  local ver=$TRAEFIK_VERSION dir json tdir tmod codename kind line old new target used fallback entry
  local lego v=github.com/traefik/traefik/v3/pkg/version
  if built_at traefik "$ver"; then log "traefik $ver: cached"; return; fi
  log "traefik $ver: building"
  dir=$SRC/traefik-$ver
  mkdir -p "$dir"
  cd "$dir"
  [[ -f go.mod ]] || go mod init local.build/traefik >/dev/null 2>&1
  json=$(go mod download -json "github.com/traefik/traefik/v3@$ver")
  tdir=$(echo "$json" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  tmod=$(echo "$json" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -n "$tdir" && -n "$tmod" ]] || { log "cannot download github.com/traefik/traefik/v3@$ver"; exit 1; }
  while read -r kind line; do
    if [[ $kind == exclude ]]; then
      go mod edit "-exclude=${line% *}@${line#* }"
      continue
    fi
    old=${line%% => *}; new=${line#* => }
    old=${old// /@}
    if [[ $new == ./* || $new == ../* ]]; then
      target=$tdir/${new#./}
      if [[ ! -f $target/go.mod ]]; then
        [[ $old == github.com/traefik/traefik/dynamic/ext ]] || { log "traefik: $old => $new is not in the module zip"; exit 1; }
        used=$(grep -rlF "\"$old\"" --include='*.go' "$tdir" | xargs grep -hoE '\bext\.[A-Z][A-Za-z]*' | sort -u | tr '\n' ' ')
        [[ $used == "ext.HTTP ext.Router " ]] || { log "traefik uses $used of $old: extend its stand-in"; exit 1; }
        target=$dir/dynamic-ext
        mkdir -p "$target"
        printf 'module %s\n\ngo 1.22\n' "$old" >"$target/go.mod"
        printf '%s\n' '// Package ext holds the extension points of dynamic.HTTPConfiguration and dynamic.Router.' \
          'package ext' '' '// HTTP extends dynamic.HTTPConfiguration: nothing in the open-source build.' 'type HTTP struct{}' \
          '' '// Router extends dynamic.Router: nothing in the open-source build.' 'type Router struct{}' >"$target/ext.go"
      fi
      go mod edit "-replace=$old=$target"
      continue
    fi
    if ! go mod download "${new// /@}" 2>/dev/null; then
      fallback=
      for entry in "${TRAEFIK_FORK_FALLBACKS[@]}"; do [[ ${entry% *} == "${new% *}" ]] && fallback=$entry; done
      [[ -n $fallback ]] || { log "traefik: the proxy refuses $new (replacing $old)"; exit 1; }
      log "traefik: the proxy refuses $new; taking ${fallback#* }"
      new=$fallback
    fi
    go mod edit "-replace=$old=${new// /@}"
  done < <(mod_directives "$tmod")
  grep -q '^godebug' go.mod || grep -m1 '^godebug' "$tmod" >>go.mod || true
  go get "github.com/traefik/traefik/v3@$ver"
  # lego's DNS provider registry has one exported function, NewDNSChallengeProviderByName. The go
  # command replaces no file in GOMODCACHE (-overlay refuses it): a copy of lego's module, whose
  # registry is the stand-in, replaces it.
  lego=$(go mod download -json github.com/go-acme/lego/v5 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ $(grep -oE '^func [A-Z][A-Za-z]*' "$lego/providers/dns/zz_gen_dns_providers.go") == "func NewDNSChallengeProviderByName" ]] ||
    { log "traefik: lego's DNS provider registry is not what its stand-in replaces"; exit 1; }
  rm -rf "$dir/lego" && cp -r "$lego" "$dir/lego" && chmod -R u+w "$dir/lego"
  printf '%s\n' '// Package dns: no DNS-01 provider in this build of Traefik (see hack/build-binaries.sh).' \
    'package dns' '' 'import (' '	"fmt"' '' '	"github.com/go-acme/lego/v5/challenge"' ')' '' \
    '// NewDNSChallengeProviderByName knows no provider.' \
    'func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {' \
    '	return nil, fmt.Errorf("unrecognized DNS provider: %s (this build of Traefik has none)", name)' \
    '}' >"$dir/lego/providers/dns/zz_gen_dns_providers.go"
  go mod edit "-replace=github.com/go-acme/lego/v5=$dir/lego"
  # As its Makefile: version, codename (that of its release workflow) and build date.
  codename=$(sed -n 's/^[[:space:]]*CODENAME:[[:space:]]*\([a-z]*\).*/\1/p' "$tdir/.github/workflows/release.yaml" 2>/dev/null | head -1)
  go build -trimpath -o "$BIN/traefik" \
    -ldflags "-s -w -X $v.Version=$ver -X $v.Codename=${codename:-cheddar} -X $v.BuildDate=$(date -u '+%Y-%m-%d_%I:%M:%S%p')" \
    github.com/traefik/traefik/v3/cmd/traefik
  mark traefik "$ver"
}

# Ory Hydra, the OAuth2/OpenID Connect provider. Like Traefik, its module cannot be `go install`ed:
# its go.mod replaces its own API client (github.com/ory/hydra-client-go/v2) by the nested module
# ./internal/httpclient, which the module zip leaves out, and gobuffalo/pop by Ory's fork. A consumer
# module mirrors them. The client is generated from the same API spec and published as its own
# module, but the proxy refuses github.com/ory/hydra-client-go/v2 at the release's version
# (HYDRA_CLIENT_FALLBACKS): its nearest served release stands in. Only the CLI's client
# subcommands (hydra create/get/list/... client, jwk, introspect) use it; `hydra serve` and
# `hydra migrate` do not. If a new release's code needs more of the client, the build fails here.
# CGO_ENABLED=0 and no `sqlite` tag: driver/registry_nosqlite.go, a pure-Go build whose DSNs are
# postgres://, mysql:// and cockroach:// (memory and sqlite:// need the cgo `sqlite` tag).
HYDRA_CLIENT_FALLBACKS=(
  # hydra-client-go v2.3.0 is not served; v2.2.1 (the version Hydra v2.3.0's go.mod requires before
  # its replace) has the same types and methods that v2.3.0's cmd/ and jwk/ use.
  "v2.3.0 v2.2.1"
)

build_hydra() {
  local ver=$HYDRA_VERSION dir json hdir hinfo hmod kind line old new entry fallback date
  local cfg=github.com/ory/hydra/v2/driver/config
  if built_at hydra "$ver"; then log "hydra $ver: cached"; return; fi
  log "hydra $ver: building"
  dir=$SRC/hydra-$ver
  mkdir -p "$dir"
  cd "$dir"
  [[ -f go.mod ]] || go mod init local.build/hydra >/dev/null 2>&1
  json=$(go mod download -json "github.com/ory/hydra/v2@$ver")
  hdir=$(echo "$json" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  hmod=$(echo "$json" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  hinfo=$(echo "$json" | sed -n 's/.*"Info": "\(.*\)".*/\1/p')
  [[ -n "$hdir" && -n "$hmod" ]] || { log "cannot download github.com/ory/hydra/v2@$ver"; exit 1; }
  while read -r kind line; do
    [[ $kind == replace ]] || { log "hydra: its go.mod has \"$kind $line\": mirror it here"; exit 1; }
    old=${line%% => *}; new=${line#* => }
    old=${old// /@}
    if [[ $new == ./* || $new == ../* ]]; then
      # Only its own API client is expected by local path; take the published module instead.
      [[ $old == github.com/ory/hydra-client-go/v2 ]] || { log "hydra: $old => $new is not in the module zip"; exit 1; }
      new="$old $ver"
      if ! go mod download "$old@$ver" 2>/dev/null; then
        fallback=
        for entry in "${HYDRA_CLIENT_FALLBACKS[@]}"; do [[ ${entry% *} == "$ver" ]] && fallback=${entry#* }; done
        [[ -n $fallback ]] || { log "hydra: the proxy refuses $old@$ver and no fallback is known"; exit 1; }
        log "hydra: the proxy refuses $old@$ver; taking $fallback"
        new="$old $fallback"
      fi
    elif ! go mod download "${new// /@}" 2>/dev/null; then
      log "hydra: the proxy refuses $new (replacing $old)"; exit 1
    fi
    go mod edit "-replace=$old=${new// /@}"
  done < <(mod_directives "$hmod")
  grep -q '^godebug' go.mod || grep -m1 '^godebug' "$hmod" >>go.mod || true
  go get "github.com/ory/hydra/v2@$ver"
  # As its Makefile and .goreleaser.yml: version, build date (the release's, from the proxy's .info)
  # and commit (not known from the module proxy: left as upstream's default "undefined").
  date=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$hinfo")
  go build -trimpath -o "$BIN/hydra" \
    -ldflags "-s -w -X $cfg.Version=$ver -X $cfg.Date=${date:-undefined}" \
    github.com/ory/hydra/v2
  mark hydra "$ver"
}

# oauth2-proxy, the proxyAuth sidecar (OIDC client of the cluster's provider, reverse proxy to the
# app). Its main package is its module root. Its go.mod has no replace or exclude directive at the
# pinned release, so `go install` builds it as it is (a module with replace directives needs a
# consumer module that mirrors them, as build_traefik: fail here if a new release adds one).
# As its Makefile: CGO_ENABLED=0 and the version ldflag, so `oauth2-proxy --version` reports the
# pinned release (the Makefile takes it from `git describe --tags`, i.e. the tag).
build_oauth2_proxy() {
  local ver=$OAUTH2_PROXY_VERSION mod=github.com/oauth2-proxy/oauth2-proxy/v7 gomod
  if built_at oauth2-proxy "$ver"; then log "oauth2-proxy $ver: cached"; return; fi
  log "oauth2-proxy $ver: building"
  gomod=$(cd "$SRC" && go mod download -json "$mod@$ver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -n "$gomod" ]] || { log "cannot download $mod@$ver"; exit 1; }
  if sed 's|//.*||' "$gomod" | grep -qE '^[[:space:]]*(replace|exclude)([[:space:]]|\()'; then
    log "oauth2-proxy $ver: its go.mod has replace/exclude directives: mirror them in a consumer module (as build_traefik)"
    exit 1
  fi
  (cd "$SRC" && CGO_ENABLED=0 GOBIN=$BIN go install -trimpath \
    -ldflags "-s -w -X $mod/pkg/version.VERSION=$ver" "$mod@$ver")
  mark oauth2-proxy "$ver"
}

# versitygw, the S3-compatible server of the backup tests (its POSIX backend serves a directory; the
# harness, tests/harness/s3.py, runs it on loopback). Its main package is cmd/versitygw. Its go.mod has
# no replace or exclude directive at the pinned release, so `go install` builds it as it is (as
# build_oauth2_proxy: fail here if a new release adds one). CGO_ENABLED=0: its cgo parts (the RDMA
# gateway, the cuObj client) are other commands. As its Makefile: the version ldflags, so
# `versitygw --version` reports the pinned release; its Build (the short commit, from git) is not in
# the module and stays upstream's default; BuildTime is the release's time from the proxy's .info,
# so that the build is reproducible (as build_hydra's Date).
build_versitygw() {
  local ver=$VERSITYGW_VERSION mod=github.com/versity/versitygw json gomod info date
  if built_at versitygw "$ver"; then log "versitygw $ver: cached"; return; fi
  log "versitygw $ver: building"
  json=$(cd "$SRC" && go mod download -json "$mod@$ver")
  gomod=$(echo "$json" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  info=$(echo "$json" | sed -n 's/.*"Info": "\(.*\)".*/\1/p')
  [[ -n "$gomod" ]] || { log "cannot download $mod@$ver"; exit 1; }
  if sed 's|//.*||' "$gomod" | grep -qE '^[[:space:]]*(replace|exclude)([[:space:]]|\()'; then
    log "versitygw $ver: its go.mod has replace/exclude directives: mirror them in a consumer module (as build_traefik)"
    exit 1
  fi
  date=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")
  (cd "$SRC" && CGO_ENABLED=0 GOBIN=$BIN go install -trimpath \
    -ldflags "-s -w -X main.Version=$ver -X main.BuildTime=${date:-none}" "$mod/cmd/versitygw@$ver")
  mark versitygw "$ver"
}

# The Gateway API CRDs of the pinned release, from its Go module (config/crd holds the files of its
# standard-install.yaml and experimental-install.yaml, each channel listed by its kustomization):
# $CACHE/gateway-api-crds/{standard,experimental}. Traefik 3.7 watches TCPRoute (and TLSRoute, with
# its experimentalChannel option) through v1alpha2, which only the experimental channel serves.
build_gateway_api_crds() {
  local out=$CACHE/gateway-api-crds dir channel kustomization prefix f
  if [[ -f "$out/.version" && "$(cat "$out/.version")" == "$GATEWAY_API_VERSION" ]]; then
    log "Gateway API CRDs $GATEWAY_API_VERSION: cached"; return
  fi
  dir=$(cd "$SRC" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -n "$dir" ]] || { log "cannot download sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"; exit 1; }
  rm -rf "$out" && mkdir -p "$out"
  for channel in standard experimental; do
    # The channel's kustomization lists its files; the standard one is config/crd's own.
    kustomization=$dir/config/crd/$channel/kustomization.yaml prefix=
    [[ -f $kustomization ]] || { kustomization=$dir/config/crd/kustomization.yaml; prefix=$channel/; }
    mkdir -p "$out/$channel"
    for f in $(sed -n "s|^[[:space:]]*-[[:space:]]*$prefix\([^/]*\.yaml\)[[:space:]]*\$|\1|p" "$kustomization"); do
      cp "$dir/config/crd/$channel/$f" "$out/$channel/"
    done
  done
  echo "$GATEWAY_API_VERSION" >"$out/.version"
  log "Gateway API CRDs $GATEWAY_API_VERSION: copied"
}

for part in "${@:-etcd kwok kubernetes helm tools cert_manager_crds traefik gateway_api_crds hydra oauth2_proxy versitygw}"; do
  for p in $part; do "build_$p"; done
done
log "binaries in $BIN"
