# shellcheck shell=bash
# Shared helpers for the hack/*.sh scripts; sourced, never run.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${REPO_ROOT}/.venv"
CACHE_DIR="${REPO_ROOT}/.cache"
export REPO_ROOT VENV CACHE_DIR

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch with sub-second precision, for timing steps.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

pyenv_root() {
  if command -v pyenv >/dev/null 2>&1; then
    pyenv root
  else
    printf '%s\n' "${PYENV_ROOT:-${HOME}/.pyenv}"
  fi
}

# Newest real (non-shim) pyenv interpreter of one minor version, e.g. 3.12 ->
# /root/.pyenv/versions/3.12.1/bin/python3.12; prints nothing when absent.
pyenv_python() {
  local minor="$1" root dir best=""
  root="$(pyenv_root)"
  [ -d "${root}/versions" ] || return 0
  for dir in "${root}/versions/${minor}".*; do
    [[ "$(basename "$dir")" =~ ^${minor//./\\.}\.[0-9]+$ ]] || continue
    [ -x "${dir}/bin/python${minor}" ] || continue
    best="$(printf '%s\n%s\n' "$best" "$(basename "$dir")" | sed '/^$/d' | sort -V | tail -n 1)"
  done
  [ -n "$best" ] && printf '%s\n' "${root}/versions/${best}/bin/python${minor}"
  return 0
}

# The interpreter .venv is built from: HVFLEET_PYTHON if set, else the newest
# pyenv 3.13/3.12, else whatever python3 really is (resolved through shims).
controller_python() {
  local py
  if [ -n "${HVFLEET_PYTHON:-}" ]; then
    printf '%s\n' "$HVFLEET_PYTHON"
    return
  fi
  for minor in 3.13 3.12; do
    py="$(pyenv_python "$minor")"
    if [ -n "$py" ]; then
      printf '%s\n' "$py"
      return
    fi
  done
  command -v python3 >/dev/null 2>&1 || die "no python3 found"
  python3 -c 'import sys; print(sys.executable)'
}

require_venv() {
  [ -x "${VENV}/bin/python" ] || die "${VENV} is missing: run 'make setup' first"
  export PATH="${VENV}/bin:${PATH}"
  export VIRTUAL_ENV="${VENV}"
}

# pytest with the venv; exit code 5 (nothing collected) is a failure, because
# every suite here has tests and collecting none means something broke.
run_pytest() {
  local suite="$1" rc=0
  shift
  export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
  "${VENV}/bin/python" -m pytest "$@" || rc=$?
  case "$rc" in
    0) ;;
    5) die "pytest collected no ${suite} tests: this project always has them, so something is broken (a wrong path, a file pattern, an import)" ;;
    *) die "${suite} tests failed (pytest exit code ${rc})" ;;
  esac
}

# The checkout as an installed collection, without installing it:
# .cache/collections/ansible_collections/hvfleet/smt -> the repository root.
# tests/conftest.py makes the same link for the unit tests.
COLLECTIONS_DIR="${CACHE_DIR}/collections"
ensure_collection_link() {
  local link="${COLLECTIONS_DIR}/ansible_collections/hvfleet/smt"
  mkdir -p "$(dirname "$link")"
  if [ -L "$link" ]; then
    [ "$(readlink -f "$link")" = "$REPO_ROOT" ] || ln -sfn "$REPO_ROOT" "$link"
  elif [ -e "$link" ]; then
    die "${link} exists and is not a symlink: remove it so the tools use this checkout"
  else
    ln -s "$REPO_ROOT" "$link"
  fi
}

# A tool's own venv, ${CACHE_DIR}/tools/NAME, from a pinned requirements file
# (tools whose dependencies clash with .venv's, or that only some steps need:
# galaxy-importer, antsibull-docs, an older ansible-core for sanity). Rebuilt
# from scratch when the interpreter or the file changes; otherwise reused in
# well under a second. Prints the venv's path.
tool_venv() {
  local name="$1" requirements="$2" python dir stamp want
  python="$(controller_python)"
  dir="${CACHE_DIR}/tools/${name}"
  stamp="${dir}/.hvfleet-tool-stamp"
  want="$({ "$python" -c 'import sys; print(sys.executable, sys.version)'; cat "$requirements"; } | sha256sum | cut -c1-16)"
  mkdir -p "${CACHE_DIR}/tools" "${CACHE_DIR}/logs"
  (
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
      exit 0
    fi
    log "tools: building ${dir} from ${requirements#"${REPO_ROOT}/"} (log: ${CACHE_DIR}/logs/tool-${name}.log)"
    rm -rf "$dir"
    { "$python" -m venv "$dir" &&
      "${dir}/bin/python" -m pip install --disable-pip-version-check -r "$requirements" &&
      "${dir}/bin/python" -m pip check; } >"${CACHE_DIR}/logs/tool-${name}.log" 2>&1 || {
      tail -n 30 "${CACHE_DIR}/logs/tool-${name}.log" >&2
      die "could not build the ${name} tool venv"
    }
    printf '%s\n' "$want" >"$stamp"
  ) 9>"${CACHE_DIR}/tools/.${name}.lock" || exit 1
  printf '%s\n' "$dir"
}
