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
ensure_collection_link
ANSIBLE_COLLECTIONS_PATH="${COLLECTIONS_DIR}"
# Third-party collections that playbooks use (awx.awx, community.general) come
# from the pinned PyPI `ansible` wheels, unpacked once into .cache/ (Galaxy is
# unreachable); without them ansible-lint's syntax check cannot resolve them.
if [ -f tests/integration/cache_collections.py ]; then
  extra="$("${VENV}/bin/python" tests/integration/cache_collections.py awx.awx community.general)" ||
    die "could not unpack the third-party collections for ansible-lint"
  ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH}:${extra}"
fi
export ANSIBLE_COLLECTIONS_PATH
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
