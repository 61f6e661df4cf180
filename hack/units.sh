#!/usr/bin/env bash
# Unit tests: plain pytest over tests/unit with the venv (config: pytest.ini,
# import setup: tests/conftest.py). Extra arguments go to pytest.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv
run_pytest unit tests/unit "$@"
