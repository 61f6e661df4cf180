#!/usr/bin/env bash
# Unit tests: plain pytest over tests/unit with the venv (config: pytest.ini,
# import setup: tests/conftest.py). Extra arguments go to pytest.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv

export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
rc=0
"${VENV}/bin/python" -m pytest "$@" || rc=$?
case "$rc" in
  0) ;;
  5) die "pytest collected no tests under tests/unit: this project always has unit tests, so something is broken (a wrong path, a file pattern, an import)" ;;
  *) die "unit tests failed (pytest exit code ${rc})" ;;
esac
