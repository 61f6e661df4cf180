#!/usr/bin/env bash
# Linters: yamllint, ansible-lint (production profile, offline), changelog
# fragments, shellcheck on hack/. Runs all of them and fails if any failed.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv

# ansible-lint keeps its own cache under the project's .ansible/ and would
# otherwise also read the user's ~/.ansible: keep runs independent of both.
export ANSIBLE_HOME="${CACHE_DIR}/ansible-lint-home"
export ANSIBLE_COLLECTIONS_PATH="${CACHE_DIR}/collections"
export ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1
export NO_COLOR=1

failed=()
step() {
  local name="$1" t0
  shift
  log "lint: ${name}"
  t0="$(now)"
  if "$@"; then
    log "lint: ${name} passed ($(elapsed "$t0") s)"
  else
    log "lint: ${name} FAILED ($(elapsed "$t0") s)"
    failed+=("$name")
  fi
}

step yamllint yamllint --strict .
step ansible-lint ansible-lint
step "antsibull-changelog lint" antsibull-changelog lint
step "changelog.yaml" antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
if command -v shellcheck >/dev/null 2>&1; then
  step shellcheck shellcheck -x hack/*.sh .ci/run
else
  die "shellcheck is not installed: run 'make setup'"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  die "lint failed: ${failed[*]}"
fi
