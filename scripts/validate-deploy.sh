#!/usr/bin/env bash
# Validate every deployment artifact on this machine, without a Docker engine, a cluster or AWS:
#   Dockerfile       hadolint, checkov
#   docker-compose   compose-go load (what `docker compose config` does), wiring tests
#   Prometheus       promtool check rules / config
#   Helm chart       helm lint --strict and helm template for every values file, kubeconform
#                    against the Kubernetes 1.33 schemas and the Istio, Prometheus Operator and
#                    External Secrets CRD schemas, checkov on the rendered objects, render tests
#   Terraform        formatting (hclfmt, and terraform/tofu fmt when installed), every file parsed,
#                    production safety tests, checkov
#   GitHub Actions   actionlint (with shellcheck on the run: scripts)
#   scripts          shellcheck
# Installs the tools first (scripts/install-deploy-tools.sh; instant when already there).
# Runs every step even after a failure, prints a summary, and exits non-zero if any step failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
export MYHEALTH_TOOLS_DIR="${MYHEALTH_TOOLS_DIR:-$ROOT/.local/tools}"
TOOLS="$MYHEALTH_TOOLS_DIR"
BIN="$TOOLS/bin"
OUT="$TOOLS/out"
export PATH="$BIN:$TOOLS/venv/bin:$PATH"
K8S_VERSION=1.33.0
ENVIRONMENTS=(dev staging prod)

declare -a RESULTS=()
FAILED=0
T_START=$SECONDS

# step NAME COMMAND...: runs the command, shows its output only when it fails.
step() {
  local name=$1 t0=$SECONDS rc=0 log
  shift
  log="$(mktemp)"
  "$@" >"$log" 2>&1 || rc=$?
  local dt=$((SECONDS - t0))
  if ((rc == 0)); then
    RESULTS+=("PASS  ${dt}s  $name")
    printf '[validate-deploy] PASS  %-48s %4ss\n' "$name" "$dt"
  else
    RESULTS+=("FAIL  ${dt}s  $name")
    FAILED=1
    printf '[validate-deploy] FAIL  %-48s %4ss (exit %s)\n' "$name" "$dt" "$rc"
    sed 's/^/    | /' "$log" | tail -n 80
  fi
  rm -f "$log"
}

# ---- steps ---------------------------------------------------------------------------------------

compose_config() {
  local env_file="$ROOT/deploy/compose.env.example"
  # The example .env stands in for the operator's; interpolation, schema and references are checked.
  # shellcheck disable=SC2016 # $1 and $2 are expanded by the inner bash
  env -i PATH="$PATH" HOME="${HOME:-/root}" bash -c \
    'set -a; . "$1"; set +a; exec composecheck "$2"' _ "$env_file" "$ROOT/docker-compose.yml" \
    >"$OUT/compose.resolved.yml"
}

promtool_checks() {
  promtool check rules helm/myhealth/rules/*.yml
  promtool check config --syntax-only deploy/prometheus/prometheus.yml
}

helm_lint() {
  local env
  for env in "${ENVIRONMENTS[@]}"; do
    helm lint --strict helm/myhealth -f "helm/myhealth/values-$env.yaml" --kube-version "$K8S_VERSION" || return 1
  done
}

helm_render() {
  local env
  rm -rf "$OUT/rendered"
  mkdir -p "$OUT/rendered"
  for env in "${ENVIRONMENTS[@]}"; do
    helm template myhealth helm/myhealth --namespace myhealth --kube-version "$K8S_VERSION" \
      -f "helm/myhealth/values-$env.yaml" >"$OUT/rendered/$env.yaml" || return 1
  done
  # The same with an image digest and IRSA role ARNs, as the deploy workflow renders it.
  helm template myhealth helm/myhealth --namespace myhealth --kube-version "$K8S_VERSION" \
    -f helm/myhealth/values-prod.yaml \
    --set-string "image.digest=sha256:$(printf '0%.0s' {1..64})" \
    --set-string "serviceAccounts.gateway.roleArn=arn:aws:iam::123456789012:role/myhealth-prod-gateway" \
    >"$OUT/rendered/prod-pinned.yaml"
}

kubeconform_check() {
  kubeconform -strict -summary -output text -kubernetes-version "$K8S_VERSION" \
    -schema-location "$TOOLS/schemas/k8s/v$K8S_VERSION/{{.ResourceKind}}{{.KindSuffix}}.json" \
    -schema-location "$TOOLS/schemas/crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json" \
    "$OUT"/rendered/*.yaml
}

terraform_fmt() {
  local files
  mapfile -t files < <(find terraform -name '*.tf' -o -name '*.hcl.example' | sort)
  ((${#files[@]} > 0)) || { echo "no Terraform files found"; return 1; }
  hclfmt -require-no-change "${files[@]}" >/dev/null || {
    echo "not canonically formatted (run: terraform fmt -recursive terraform):"
    local f
    for f in "${files[@]}"; do hclfmt "$f" | diff -u "$f" - || true; done
    return 1
  }
  # The real thing too, when this machine has it (the GitHub workflow installs it).
  local tf
  for tf in terraform tofu; do
    if command -v "$tf" >/dev/null; then
      "$tf" fmt -check -recursive -diff terraform || return 1
      echo "$tf fmt -check: ok"
      break
    fi
  done
}

checkov_run() {
  checkov --quiet --compact --skip-download --output cli "$@"
}

checkov_suppressions_have_reasons() {
  # checkov:skip=ID:reason (HCL, Dockerfile) and checkov.io/skipN: ID=reason (Kubernetes).
  local bad
  bad="$(grep -rnE 'checkov:skip=CKV[0-9A-Z_]+(\s*$|:\s*$)|checkov\.io/skip[0-9]+: *CKV[0-9A-Z_]+ *$' \
    Dockerfile terraform helm || true)"
  if [[ -n "$bad" ]]; then
    echo "checkov suppressions without a reason:"
    echo "$bad"
    return 1
  fi
  echo "every suppression states its reason:"
  grep -rhoE 'checkov:skip=CKV[0-9A-Z_]+|checkov\.io/skip[0-9]+: *CKV[0-9A-Z_]+' Dockerfile terraform helm \
    | sed 's/.*\(CKV[0-9A-Z_]*\)/\1/' | sort | uniq -c
}

pytest_deploy() {
  MYHEALTH_DEPLOY_STRICT=1 python -m pytest -q -p no:cacheprovider -c /dev/null \
    --rootdir "$ROOT" --confcutdir "$ROOT/tests/deploy" "$ROOT/tests/deploy"
}

main() {
  if ! bash "$ROOT/scripts/install-deploy-tools.sh"; then
    echo "[validate-deploy] FAIL  installing the tools (see above)"
    exit 1
  fi
  mkdir -p "$OUT"

  step "hadolint Dockerfile" hadolint Dockerfile
  step "shellcheck scripts" shellcheck scripts/validate-deploy.sh scripts/install-deploy-tools.sh \
    deploy/postgres/initdb/*.sh
  step "compose-go: docker-compose.yml" compose_config
  step "promtool: rules and prometheus.yml" promtool_checks
  step "helm lint --strict (dev, staging, prod)" helm_lint
  step "helm template (dev, staging, prod, pinned)" helm_render
  step "kubeconform: k8s $K8S_VERSION + CRD schemas" kubeconform_check
  step "terraform fmt" terraform_fmt
  step "actionlint .github/workflows" actionlint
  step "checkov: Dockerfile" checkov_run --framework dockerfile -f Dockerfile
  step "checkov: rendered chart" checkov_run --framework kubernetes -d "$OUT/rendered"
  step "checkov: terraform" checkov_run --framework terraform -d terraform
  step "checkov: suppressions carry reasons" checkov_suppressions_have_reasons
  step "pytest tests/deploy (compose, helm, terraform)" pytest_deploy

  echo
  echo "[validate-deploy] summary ($((SECONDS - T_START))s):"
  printf '  %s\n' "${RESULTS[@]}"
  if ((FAILED)); then
    echo "[validate-deploy] FAILED"
    exit 1
  fi
  echo "[validate-deploy] all checks passed"
}

main "$@"
