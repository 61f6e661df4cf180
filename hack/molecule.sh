#!/usr/bin/env bash
# Run `molecule test` for every scenario under extensions/molecule/ (a
# directory with a molecule.yml), from the repository root, one at a time.
#
# Order: the names in extensions/molecule/ORDER (one a line, '#' comments),
# then any other scenario alphabetically, so a new scenario is never skipped.
# Arguments, if any, name the scenarios to run instead (in that order).
#
# Environment:
#   MOLECULE_KEEP_GOING=1        run the remaining scenarios after a failure
#   MOLECULE_SCENARIO_TIMEOUT=N  seconds before a scenario is killed (default 2400)
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv

SCENARIO_DIR="${REPO_ROOT}/extensions/molecule"
ORDER_FILE="${SCENARIO_DIR}/ORDER"
TIMEOUT="${MOLECULE_SCENARIO_TIMEOUT:-2400}"

# Molecule installs the collection into $ANSIBLE_HOME/collections before each
# run unless that path is already a symlink to the project directory, in which
# case it uses the live tree. A per-checkout ANSIBLE_HOME holding that symlink
# (the same one tests/conftest.py makes) tests this checkout's files, and two
# checkouts on one machine do not repoint each other's ~/.ansible.
export ANSIBLE_HOME="${CACHE_DIR}"
export ANSIBLE_COLLECTIONS_PATH="${COLLECTIONS_DIR}"
ensure_collection_link
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"

list_scenarios() {
  local name dir listed=()
  if [ -f "$ORDER_FILE" ]; then
    while IFS= read -r name; do
      name="${name%%#*}"
      name="${name//[[:space:]]/}"
      [ -n "$name" ] || continue
      [ -f "${SCENARIO_DIR}/${name}/molecule.yml" ] ||
        die "${ORDER_FILE#"$REPO_ROOT"/} names '${name}', but ${SCENARIO_DIR#"$REPO_ROOT"/}/${name}/molecule.yml does not exist"
      listed+=("$name")
      printf '%s\n' "$name"
    done <"$ORDER_FILE"
  fi
  for dir in "${SCENARIO_DIR}"/*/; do
    [ -f "${dir}molecule.yml" ] || continue
    name="$(basename "$dir")"
    if [ "${#listed[@]}" -gt 0 ] && printf '%s\n' "${listed[@]}" | grep -qxF "$name"; then
      continue
    fi
    printf '%s\n' "$name"
  done
}

if [ "$#" -gt 0 ]; then
  scenarios=("$@")
else
  listing="$(list_scenarios)" # an assignment, so that a die inside stops the script
  scenarios=()
  [ -z "$listing" ] || mapfile -t scenarios <<<"$listing"
fi
if [ "${#scenarios[@]}" -eq 0 ]; then
  log "molecule: no scenarios under ${SCENARIO_DIR#"$REPO_ROOT"/}/ (none has a molecule.yml): nothing to run"
  exit 0
fi
log "molecule: scenarios in order: ${scenarios[*]}"

results=()
failed=0
t_all="$(now)"
for name in "${scenarios[@]}"; do
  if [ "$failed" -ne 0 ] && [ "${MOLECULE_KEEP_GOING:-0}" != 1 ]; then
    results+=("$(printf '%-16s %-7s' "$name" "not run")")
    continue
  fi
  log "molecule: scenario ${name}"
  t0="$(now)"
  rc=0
  timeout --kill-after=60 "$TIMEOUT" molecule test -s "$name" || rc=$?
  took="$(elapsed "$t0")"
  if [ "$rc" -eq 0 ]; then
    results+=("$(printf '%-16s %-7s %8s s' "$name" "passed" "$took")")
  else
    [ "$rc" -eq 124 ] && took="${took} (timed out after ${TIMEOUT} s)"
    results+=("$(printf '%-16s %-7s %8s s  (exit %d)' "$name" "FAILED" "$took" "$rc")")
    failed=$((failed + 1))
  fi
  log "molecule: scenario ${name} took ${took} s"
done

printf '\n==> molecule: scenarios (%s s in all)\n' "$(elapsed "$t_all")" >&2
printf '    %s\n' "${results[@]}" >&2
[ "$failed" -eq 0 ] || die "molecule: ${failed} scenario(s) failed"
