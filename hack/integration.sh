#!/usr/bin/env bash
# Integration tests that need no guest: pytest over tests/integration (real
# ansible-playbook and ansible-runner runs against generated sysfs trees, real
# redis-server fact caches). Extra arguments go to pytest.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv
run_pytest integration tests/integration "$@"
