#!/usr/bin/env bash
# `make test`: setup, then every suite in order (cheap checks first), stopping at the first failure,
# and a summary of what ran, how long it took, and what did not run.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# collection includes docs (hack/docs.sh runs two of its four steps).
STEPS=(setup sanity units lint collection integration molecule)
results=()
status=0
t_all="$(now)"

for step in "${STEPS[@]}"; do
  if [ "$status" -ne 0 ]; then
    results+=("$(printf '%-12s %-7s' "$step" "not run")")
    continue
  fi
  printf '\n######## %s ########\n' "$step"
  t0="$(now)"
  rc=0
  bash "${REPO_ROOT}/hack/${step}.sh" || rc=$?
  took="$(elapsed "$t0")"
  if [ "$rc" -eq 0 ]; then
    results+=("$(printf '%-12s %-7s %8s s' "$step" "passed" "$took")")
  else
    results+=("$(printf '%-12s %-7s %8s s  (exit %d)' "$step" "FAILED" "$took" "$rc")")
    status="$rc"
  fi
done

passed=0
failed=0
for r in "${results[@]}"; do
  case "$r" in
    *" passed "*) passed=$((passed + 1)) ;;
    *" FAILED "*) failed=$((failed + 1)) ;;
  esac
done

printf '\n######## summary (%s s) ########\n' "$(elapsed "$t_all")"
printf '%s\n' "${results[@]}"
printf 'steps: %d passed, %d failed\n' "$passed" "$failed"
exit "$status"
