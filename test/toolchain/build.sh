#!/usr/bin/env bash
# build.sh: build Plinth's pinned test toolchain (pulumi, the kubernetes
# provider plugin, kube-apiserver & co, etcd, kwok, terraform) from the Go
# module proxy into a cache outside the repository. `make tools` runs it.
#
#   test/toolchain/build.sh            build whatever is missing, verify all
#   test/toolchain/build.sh etcd kwok  only these tools (then verify them)
#
# Versions come from versions.env beside this file. Binaries land in
#   ${PLINTH_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plinth/tools}/<tool>/<version>/bin/
# and a tool whose binary is already there is not rebuilt, so a second run takes
# seconds. Builds run one at a time (2-core machines; a build can peak at 5 GB
# RSS). Each build is a throwaway wrapper module in a temporary directory, so
# the upstream modules' replace directives (which forbid `go install`) don't
# apply. Nothing is downloaded except Go modules through GOPROXY.
#
# Output: one progress line per tool; the go output of each build goes to
# ${cache}/logs/<tool>-<version>.log, and its tail is printed if it fails.
# Finally ${cache}/env.sh is written: source it to put everything on PATH.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=versions.env
. "$HERE/versions.env"

CACHE=${PLINTH_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plinth/tools}
PULUMI_HOME_DIR="$CACHE/pulumi-home"
KWOK_STAGES_DIR="$CACHE/kwok/$KWOK_VERSION/stages"
ASSETS_DIR="$CACHE/kubebuilder-assets/$KUBERNETES_VERSION"

# Build order: cheap first, so a broken proxy shows up in seconds.
ALL_TOOLS=(etcd kwok kube-apiserver kube-controller-manager kube-scheduler kubectl terraform pulumi pulumi-resource-kubernetes)

# Static, reproducible, no VCS stamping; never pick up a go.work from around.
export CGO_ENABLED=0 GOWORK=off GO111MODULE=on GOFLAGS=-buildvcs=false

die() { echo "build.sh: $*" >&2; exit 1; }

version_of() {
  case $1 in
    etcd) echo "$ETCD_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl) echo "$KUBERNETES_VERSION" ;;
    terraform) echo "$TERRAFORM_VERSION" ;;
    pulumi) echo "$PULUMI_VERSION" ;;
    pulumi-resource-kubernetes) echo "$PULUMI_KUBERNETES_VERSION" ;;
    *) return 1 ;;
  esac
}

# Cold cost (CPU-seconds, empty GOCACHE, in this order, so kube-scheduler and
# kubectl reuse what kube-apiserver compiled) measured on a 2-core machine.
cold_cost() {
  case $1 in
    etcd) echo "~75" ;;
    kwok) echo "~130" ;;
    kube-apiserver) echo "~300" ;;
    kube-controller-manager) echo "~90" ;;
    kube-scheduler) echo "~5" ;;
    kubectl) echo "~30" ;;
    terraform) echo "~160" ;;
    pulumi) echo "~370" ;;
    pulumi-resource-kubernetes) echo "~790" ;;
  esac
}

tool_dir() { echo "$CACHE/$1/$(version_of "$1")"; }
bin_dir() { echo "$(tool_dir "$1")/bin"; }

# moddir MODULE@VERSION: the module's directory in the module cache (downloads it).
moddir() {
  (cd "$WORK" && go mod download -json "$1") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}
# modfile MODULE@VERSION: the module's go.mod in the module cache.
modfile() {
  (cd "$WORK" && go mod download -json "$1") | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

# copy_replaces GOMOD: copy into the current module the replace directives of
# GOMOD that point at another module version (those to a relative directory
# point at sibling modules, which the wrapper pins at their published versions).
copy_replaces() {
  local r
  for r in $(awk '
    { sub(/\/\/.*/, "") }
    /^replace[ \t]*\(/ { blk = 1; next }
    blk && /^[ \t]*\)/ { blk = 0; next }
    /^replace[ \t]/ { sub(/^replace[ \t]+/, ""); blk1 = 1 }
    (blk || blk1) && /=>/ {
      split($0, side, "=>"); nl = split(side[1], l, " "); nr = split(side[2], r, " ")
      if (nr == 2 && r[1] !~ /^[.\/]/) print l[1] (nl == 2 ? "@" l[2] : "") "=" r[1] "@" r[2]
    }
    { blk1 = 0 }' "$1"); do
    go mod edit -replace="$r"
  done
}

# ---------------------------------------------------------------------------
# One build per function. Each runs in its own process (see build_one), in a
# fresh wrapper module under $WORK, and writes the binary to $OUT.

build_etcd() {
  mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
  go mod init plinth.local/toolchain/etcd
  cat >main.go <<'EOF'
// Command etcd: the etcd server, built from go.etcd.io/etcd/server/v3 for Plinth's tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go mod tidy
  go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$OUT" .
}

build_kwok() {
  # kwok's go.mod has no replace directives: a plain `go install` works.
  GOBIN="$WORK/kwok-bin" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$WORK/kwok-bin/kwok" "$OUT"
}

# The kubernetes binaries share one wrapper module: require k8s.io/kubernetes
# and map each `k8s.io/X => ./staging/src/k8s.io/X` of its go.mod to the
# published k8s.io/X v0.<minor>.<patch>.
kubernetes_wrapper() {
  local d="$WORK/kubernetes"
  if [[ -f $d/.ready ]]; then cd "$d" && return 0; fi
  rm -rf "$d" && mkdir -p "$d" && cd "$d"
  local gomod staging mods m
  gomod=$(modfile "k8s.io/kubernetes@$KUBERNETES_VERSION")
  [[ -n $gomod ]] || die "cannot download k8s.io/kubernetes@$KUBERNETES_VERSION"
  staging="v0.${KUBERNETES_VERSION#v1.}"
  go mod init plinth.local/toolchain/kubernetes
  go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
  mods=$(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*|\1|p' "$gomod")
  [[ -n $mods ]] || die "no staging replaces found in $gomod"
  for m in $mods; do go mod edit -replace="$m=$m@$staging"; done
  cat >tools.go <<'EOF'
//go:build tools

// Package tools pins the kubernetes commands this wrapper module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  go mod tidy
  touch .ready
}

build_kubernetes() { # $1: command name under k8s.io/kubernetes/cmd
  kubernetes_wrapper
  local minor ldflags=(-s -w) pkg
  minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=(-X "$pkg.gitVersion=$KUBERNETES_VERSION" -X "$pkg.gitMajor=1" -X "$pkg.gitMinor=$minor" -X "$pkg.gitTreeState=clean")
  done
  go build -trimpath -ldflags "${ldflags[*]}" -o "$OUT" "k8s.io/kubernetes/cmd/$1"
}

build_terraform() {
  # v1.5.7's version package already says 1.5.7 with no prerelease suffix.
  GOBIN="$WORK/terraform-bin" go install -trimpath -ldflags "-s -w" \
    "github.com/hashicorp/terraform@$TERRAFORM_VERSION"
  mv "$WORK/terraform-bin/terraform" "$OUT"
}

build_pulumi() {
  mkdir -p "$WORK/pulumi" && cd "$WORK/pulumi"
  go mod init plinth.local/toolchain/pulumi
  cat >tools.go <<'EOF'
//go:build tools

// Package tools pins the pulumi command this wrapper module builds.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
EOF
  # pkg/v3 replaces github.com/atotto/clipboard with a fork: keep that one.
  copy_replaces "$(modfile "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION")"
  go get "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
  go mod tidy # `go get` alone leaves go.sum incomplete
  # Without the version ldflag `pulumi version` prints nothing and the
  # Automation API cannot parse the CLI version.
  go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    -o "$OUT" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_pulumi-resource-kubernetes() {
  local mod="$PULUMI_KUBERNETES_PROVIDER_MODULE@$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION" src
  src=$(moddir "$mod")
  [[ -n $src ]] || die "cannot download $mod"
  # A wrapper of its own, so its pulumi v3.2xx dependencies are not raised by
  # the CLI's. main.go embeds schema-embed.json/terraform-mapping-embed.json,
  # which the module zip lacks: generate them as the provider's Makefile does.
  mkdir -p "$WORK/provider" && cd "$WORK/provider"
  cp "$src/cmd/pulumi-resource-kubernetes/"{main.go,generate.go,schema.json,terraform-mapping.json} .
  chmod u+w ./*
  go mod init plinth.local/toolchain/pulumi-resource-kubernetes
  copy_replaces "$(modfile "$mod")"
  go mod edit -require="$mod" -require="github.com/pulumi/pulumi-kubernetes/sdk/v4@v${PULUMI_KUBERNETES_VERSION#v}"
  go mod tidy
  VERSION=${PULUMI_KUBERNETES_VERSION#v} go run ./generate.go
  go build -trimpath \
    -ldflags "-s -w -X $PULUMI_KUBERNETES_PROVIDER_MODULE/pkg/version.Version=${PULUMI_KUBERNETES_VERSION#v}" \
    -o "$OUT" .
}

# build_one TOOL OUT: child-process entry point.
build_one() {
  case $1 in
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl) build_kubernetes "$1" ;;
    *) "build_$1" ;;
  esac
}

# ---------------------------------------------------------------------------
# Post-build steps (cheap; redone when their output is missing).

# KWOK exits with "no stages found" without stage configs: copy the node-fast
# and pod-fast stages its module ships under kustomize/stage/.
install_kwok_stages() {
  [[ -f $KWOK_STAGES_DIR/node-initialize.yaml ]] && return 0
  local src tmp f
  src=$(moddir "sigs.k8s.io/kwok@$KWOK_VERSION")
  [[ -n $src ]] || die "kwok: cannot download sigs.k8s.io/kwok@$KWOK_VERSION for its stages"
  tmp="$KWOK_STAGES_DIR.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  for f in "$src"/kustomize/stage/node/fast/*.yaml "$src"/kustomize/stage/pod/fast/*.yaml; do
    [[ $(basename "$f") == kustomization.yaml ]] && continue
    cp "$f" "$tmp/" && chmod u+w "$tmp/$(basename "$f")"
  done
  rm -rf "$KWOK_STAGES_DIR" && mv "$tmp" "$KWOK_STAGES_DIR"
}

# The provider plugin goes into a Pulumi home under the cache, so the engine
# never tries to download it.
install_pulumi_plugin() {
  local v=${PULUMI_KUBERNETES_VERSION#v}
  if [[ -x $PULUMI_HOME_DIR/plugins/resource-kubernetes-v$v/pulumi-resource-kubernetes ]]; then
    echo "      pulumi plugin resource kubernetes v$v: cached"
    return 0
  fi
  echo "      pulumi plugin resource kubernetes v$v: installing into $PULUMI_HOME_DIR"
  mkdir -p "$PULUMI_HOME_DIR"
  PULUMI_HOME="$PULUMI_HOME_DIR" PULUMI_SKIP_UPDATE_CHECK=1 \
    "$(bin_dir pulumi)/pulumi" plugin install resource kubernetes "$v" \
    --file "$(bin_dir pulumi-resource-kubernetes)/pulumi-resource-kubernetes" >/dev/null ||
    die "pulumi-resource-kubernetes: 'pulumi plugin install' failed"
}

# envtest (controller-runtime) looks for etcd, kube-apiserver and kubectl in
# one directory named by KUBEBUILDER_ASSETS.
install_assets() {
  mkdir -p "$ASSETS_DIR"
  local t
  for t in etcd kube-apiserver kubectl; do ln -sfn "$(bin_dir "$t")/$t" "$ASSETS_DIR/$t"; done
}

write_env() {
  local f="$CACHE/env.sh" t dirs=""
  for t in "${ALL_TOOLS[@]}"; do dirs="$dirs${dirs:+:}$(bin_dir "$t")"; done
  cat >"$f.tmp" <<EOF
# Plinth test toolchain, written by test/toolchain/build.sh; do not edit.
# Use: . "$f"
export PLINTH_TOOLS_DIR="$CACHE"
case ":\$PATH:" in
  *":$dirs:"*) ;;
  *) export PATH="$dirs:\$PATH" ;;
esac
export PULUMI_HOME="$PULUMI_HOME_DIR"
export PULUMI_SKIP_UPDATE_CHECK=1
export PULUMI_IGNORE_AMBIENT_PLUGINS=1
export KUBEBUILDER_ASSETS="$ASSETS_DIR"
export PLINTH_KWOK_STAGES="$KWOK_STAGES_DIR"
EOF
  mv "$f.tmp" "$f"
}

# verify TOOL: run the binary and check the version it reports.
verify() {
  local t=$1 b out want
  b="$(bin_dir "$t")/$t"
  case $t in
    pulumi) out=$(PULUMI_HOME="$PULUMI_HOME_DIR" PULUMI_SKIP_UPDATE_CHECK=1 "$b" version 2>&1) want=$PULUMI_VERSION ;;
    terraform) out=$(TF_CLI_CONFIG_FILE=/dev/null "$b" version 2>&1) want="Terraform $TERRAFORM_VERSION" ;;
    kubectl) out=$("$b" version --client 2>&1) want="Client Version: $KUBERNETES_VERSION" ;;
    kube-*) out=$("$b" --version 2>&1) want="Kubernetes $KUBERNETES_VERSION" ;;
    etcd) out=$("$b" --version 2>&1) want="etcd Version: ${ETCD_VERSION#v}" ;;
    kwok) out=$("$b" --version 2>&1) want="${KWOK_VERSION#v}" ;;
    pulumi-resource-kubernetes)
      out=$(PULUMI_HOME="$PULUMI_HOME_DIR" PULUMI_SKIP_UPDATE_CHECK=1 PULUMI_IGNORE_AMBIENT_PLUGINS=1 \
        "$(bin_dir pulumi)/pulumi" plugin ls 2>&1)
      want="kubernetes resource ${PULUMI_KUBERNETES_VERSION#v}"
      out=$(grep -E '^kubernetes[[:space:]]' <<<"$out" | tr -s ' ' || echo "$out")
      ;;
  esac
  if [[ $out != *"$want"* ]]; then
    echo "build.sh: $t: expected '$want' in the output of its version command, got:" >&2
    echo "$out" | head -20 >&2
    return 1
  fi
  printf '      %-27s %s\n' "$t" "$(head -1 <<<"$out" | tr -s ' ')"
}

# timed STATS CMD...: run CMD, write "wall user sys maxrss_kb" to STATS. GNU
# time gives the peak RSS of the build's largest process; without it (Debian
# package "time"), bash's own timer gives the times and RSS reads 0.
timed() {
  local stats=$1
  shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -o "$stats" -f '%e %U %S %M' "$@"
  else
    local TIMEFORMAT='%R %U %S 0' rc=0
    { time "$@" 2>&3 3>&-; } 3>&2 2>"$stats" || rc=$?
    return $rc
  fi
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

main() {
  local tools=("$@")
  ((${#tools[@]})) || tools=("${ALL_TOOLS[@]}")
  local t
  for t in "${tools[@]}"; do version_of "$t" >/dev/null || die "unknown tool '$t' (known: ${ALL_TOOLS[*]})"; done

  command -v go >/dev/null || die "go is not on PATH (need Go >= $GO_MIN_VERSION)"
  local gov
  gov=$(go env GOVERSION)
  gov=${gov#go}
  if [[ $(printf '%s\n%s\n' "$GO_MIN_VERSION" "$gov" | sort -V | head -1) != "$GO_MIN_VERSION" ]]; then
    die "go $gov is too old: need >= $GO_MIN_VERSION (or set GOTOOLCHAIN=go$GO_MIN_VERSION)"
  fi

  mkdir -p "$CACHE/logs"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/plinth-tools.XXXXXX")
  export WORK
  trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

  echo "Plinth toolchain -> $CACHE ($(go version | cut -d' ' -f3), GOPROXY=$(go env GOPROXY))"
  local n=${#tools[@]} i=0 start=$SECONDS v bd log tmp stats cpu wall rss
  for t in "${tools[@]}"; do
    i=$((i + 1))
    v=$(version_of "$t")
    bd=$(bin_dir "$t")
    if [[ -x $bd/$t ]]; then
      echo "[$i/$n] $t $v: cached"
      continue
    fi
    echo "[$i/$n] $t $v: building (cold $(cold_cost "$t") CPU-s)..."
    log="$CACHE/logs/$t-$v.log"
    mkdir -p "$bd"
    tmp="$bd/.$t.tmp.$$"
    stats="$WORK/$t.time"
    if ! timed "$stats" env OUT="$tmp" bash "$SELF" --build-one "$t" >"$log" 2>&1; then
      rm -f "$tmp"
      {
        echo "build.sh: FAILED: $t $v (log: $log); last lines:"
        tail -n 40 "$log" | sed 's/^/    /'
      } >&2
      exit 1
    fi
    mv -f "$tmp" "$bd/$t"
    read -r wall cpu sys rss <"$stats" || true
    cpu=$(awk -v u="$cpu" -v s="$sys" 'BEGIN{printf "%d", u+s}')
    wall=${wall%.*}
    printf 'cpu_seconds=%s\nwall_seconds=%s\nmax_rss_mb=%d\ngo=%s\nbuilt=%s\n' \
      "$cpu" "$wall" $((rss / 1024)) "$(go env GOVERSION)" "$(date -u +%FT%TZ)" >"$(tool_dir "$t")/build-info"
    echo "[$i/$n] $t $v: built in $cpu CPU-s ($(fmt_secs "$wall") wall, peak $((rss / 1024)) MB RSS, $(($(stat -c %s "$bd/$t") / 1048576)) MB)"
  done

  # Post-build steps for whatever is present.
  [[ -x $(bin_dir kwok)/kwok ]] && install_kwok_stages
  if [[ -x $(bin_dir pulumi)/pulumi && -x $(bin_dir pulumi-resource-kubernetes)/pulumi-resource-kubernetes ]]; then
    install_pulumi_plugin
  fi
  [[ -x $(bin_dir kube-apiserver)/kube-apiserver && -x $(bin_dir etcd)/etcd && -x $(bin_dir kubectl)/kubectl ]] && install_assets
  write_env

  echo "Verifying:"
  local failed=0
  for t in "${tools[@]}"; do
    if [[ $t == pulumi-resource-kubernetes && ! -x $(bin_dir pulumi)/pulumi ]]; then continue; fi
    verify "$t" || failed=1
  done
  ((failed == 0)) || die "verification failed"

  cat <<EOF
Done in $(fmt_secs $((SECONDS - start))). To use the toolchain in a shell:
    . "$CACHE/env.sh"
(puts every tool first on PATH and sets PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK,
PULUMI_IGNORE_AMBIENT_PLUGINS, KUBEBUILDER_ASSETS, PLINTH_KWOK_STAGES).
EOF
}

if [[ ${1:-} == --build-one ]]; then
  [[ -n ${OUT:-} && -n ${WORK:-} ]] || die "--build-one is internal"
  set -x
  build_one "$2"
  exit
else
  main "$@"
  exit # parsed with the if: editing this file while it runs cannot break a run
fi
