#!/usr/bin/env bash
# ansible-test sanity on a copy of the working tree.
#
# ansible-test only runs inside a real .../ansible_collections/<ns>/<name>/
# directory (it resolves and refuses symlinks), and our collection is the
# repository root, so the tracked and untracked-but-not-ignored files are
# copied to a .../ansible_collections/hvfleet/smt tree under $TMPDIR and
# tested there. Not under .cache: ansible-test would find the repository's git
# above the copy and skip every file as ignored. All tests run with the venv's
# ansible-core and again with the second-newest release (SECOND_CORE, its own
# venv under .cache/tools): sanity must pass on the two newest.
# Extra arguments go to the main ansible-test run (e.g. --test pylint).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv

# The release sanity also runs on, besides the venv's (the two newest that
# install here); pinned in tests/requirements-sanity-<it>.txt.
SECOND_CORE=2.20
# Managed-node Pythons that module code must compile and import on. ansible-core
# 2.21 supports targets 3.9-3.14; pyenv on our machines has 3.9-3.13.
TARGET_PYTHONS=(3.9 3.10 3.11 3.12 3.13)
# One copy per checkout, replaced on each run, kept afterwards for its tests/output.
SANITY_ROOT="${TMPDIR:-/tmp}/hvfleet-smt-sanity-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
COPY="${SANITY_ROOT}/ansible_collections/hvfleet/smt"
LOG_DIR="${CACHE_DIR}/logs"
mkdir -p "$LOG_DIR"

controller_minor="$("${VENV}/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# Real interpreter directories rather than pyenv shims: ansible-test looks for
# pythonX.Y on PATH, and shims either pick the wrong version or fail.
found=()
missing=()
py_dirs=""
for minor in "${TARGET_PYTHONS[@]}"; do
  py="$(pyenv_python "$minor")"
  if [ -n "$py" ]; then
    py_dirs="${py_dirs}$(dirname "$py"):"
    found+=("$minor")
  elif command -v "python${minor}" >/dev/null 2>&1 && [ "$minor" != "$controller_minor" ]; then
    found+=("$minor")
  elif [ "$minor" != "$controller_minor" ]; then
    missing+=("$minor")
  fi
done
# The venv first, so that the controller's python3.X is the venv's; then the
# real interpreters, ahead of any pyenv shims.
export PATH="${VENV}/bin:${py_dirs}${PATH}"
if [ "${#missing[@]}" -gt 0 ]; then
  printf 'WARNING: no interpreter for Python %s: module code is not compiled for it\n' "${missing[*]}" >&2
fi

# ansible-test bootstraps pip into its venvs with get-pip.py downloaded from a
# host we cannot reach, but uses ~/.ansible/test/cache/get_pip_<ver>.py when
# present. Ours bootstraps with ensurepip, then installs the pip version asked.
# $1: the python of the venv whose ansible-test will run.
install_offline_get_pip() {
  local req_py pip_version cache_file marker="# hvfleet.smt offline get-pip stand-in"
  req_py="$("$1" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')"
  pip_version="$(sed -n "s/^ *pip='\([0-9.]*\)',*$/\1/p" "$req_py" | head -n 1)"
  [ -n "$pip_version" ] || die "cannot find the pip version ansible-test bootstraps in ${req_py}"
  cache_file="${HOME}/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  if [ -f "$cache_file" ] && ! grep -qF "$marker" "$cache_file"; then
    return # a real get-pip.py, downloaded when the network allowed: keep it
  fi
  mkdir -p "$(dirname "$cache_file")"
  cat >"${cache_file}.new" <<EOF
${marker} (written by hack/sanity.sh).
"""Install pip ${pip_version} the way get-pip.py would, without downloading get-pip.py."""
import subprocess
import sys

ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + ARGS)
if "--no-setuptools" in sys.argv[1:]:
    # ensurepip before Python 3.12 also installs setuptools; get-pip.py would not.
    subprocess.check_call([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"])
EOF
  mv "${cache_file}.new" "$cache_file"
}

copy_tree() {
  rm -rf "$SANITY_ROOT"
  mkdir -p "$COPY"
  # Tracked plus untracked-but-not-ignored files: what a commit of the working
  # tree would contain (deleted tracked files are skipped).
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do
      if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
    done |
    tar --null --no-recursion -T - -cf - | tar -xf - -C "$COPY"
}

run_logged() {
  local logfile="$1"
  shift
  "$@" >"$logfile" 2>&1 || {
    grep -v "^WARNING: Location 'file:" "$logfile" | tail -n 60 >&2
    die "'$*' failed (full log: ${logfile})"
  }
}

t0="$(now)"
install_offline_get_pip "${VENV}/bin/python"
# The second-newest ansible-core (its own venv, .cache/tools/sanity-<version>):
# sanity must pass on the two newest releases. Only the controller Python:
# compile and import on the other Pythons do not depend on the release.
second_venv=""
if [ "$controller_minor" = "3.11" ]; then
  printf 'WARNING: ansible-core %s needs Python >= 3.12 on the controller: its sanity run is not done\n' \
    "$SECOND_CORE" >&2
else
  second_venv="$(tool_venv "sanity-${SECOND_CORE}" "${REPO_ROOT}/tests/requirements-sanity-${SECOND_CORE}.txt")"
  install_offline_get_pip "${second_venv}/bin/python"
fi
copy_tree
cd "$COPY"

# Build every sanity venv first (minutes on a new machine, about 2 s after) so
# the test output below is not buried in pip logs. They live in
# ~/.ansible/test/venv and are reused by later runs on the same machine.
log "sanity: priming ansible-test venvs (log: ${LOG_DIR}/sanity-prime.log)"
run_logged "${LOG_DIR}/sanity-prime.log" ansible-test sanity --prime-venvs --python "$controller_minor" --color no
for minor in "${found[@]}"; do
  [ "$minor" = "$controller_minor" ] && continue
  run_logged "${LOG_DIR}/sanity-prime-${minor}.log" \
    ansible-test sanity --prime-venvs --test import --python "$minor" --color no
done
if [ -n "$second_venv" ]; then
  PATH="${second_venv}/bin:${PATH}" run_logged "${LOG_DIR}/sanity-prime-core-${SECOND_CORE}.log" \
    ansible-test sanity --prime-venvs --python "$controller_minor" --color no
fi
log "sanity: venvs ready after $(elapsed "$t0") s"

failed=()
log "sanity: all tests on the controller Python ${controller_minor}"
t1="$(now)"
ansible-test sanity --python "$controller_minor" "$@" || failed+=("all tests on ${controller_minor}")
log "sanity: controller tests took $(elapsed "$t1") s"
# Modules run on managed hosts with older Pythons: compile catches syntax,
# import catches what only fails at run time (e.g. 'X | Y' in annotations).
for minor in "${found[@]}"; do
  [ "$minor" = "$controller_minor" ] && continue
  t1="$(now)"
  ansible-test sanity --test compile --test import --python "$minor" || failed+=("compile/import on ${minor}")
  log "sanity: compile and import on Python ${minor} took $(elapsed "$t1") s"
done

if [ -n "$second_venv" ]; then
  t1="$(now)"
  core="$("${second_venv}/bin/python" -c 'from ansible.release import __version__; print(__version__)')"
  log "sanity: all tests with ansible-core ${core} on Python ${controller_minor}"
  PATH="${second_venv}/bin:${PATH}" ansible-test sanity --python "$controller_minor" "$@" ||
    failed+=("all tests with ansible-core ${core}")
  log "sanity: ansible-core ${core} took $(elapsed "$t1") s"
fi

log "sanity: finished in $(elapsed "$t0") s (output kept in ${COPY}/tests/output)"
if [ "${#failed[@]}" -gt 0 ]; then
  die "sanity failed: $(printf '%s; ' "${failed[@]}" | sed 's/; $//')"
fi
