#!/usr/bin/env bash
# Install everything the tests need: Debian packages (hack/apt-packages.txt)
# and the controller venv .venv (tests/requirements-*.txt).
# Idempotent: each half is skipped when it is already done, so `make test`
# can always start with it.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

APT_LIST="${REPO_ROOT}/hack/apt-packages.txt"
REQ_DEV="${REPO_ROOT}/tests/requirements-dev.txt"
REQ_PY311="${REPO_ROOT}/tests/requirements-py311.txt"
STAMP="${VENV}/.hvfleet-setup-stamp"

mkdir -p "$CACHE_DIR"
# Two setups at once (make -j, two shells) would fight over apt and .venv.
exec 9>"${CACHE_DIR}/setup.lock"
flock 9

# Mirrors have bad minutes; three tries a few seconds apart ride them out.
retry() {
  local n
  for n in 1 2 3; do
    "$@" && return 0
    [ "$n" -lt 3 ] && { log "retrying in $((n * 5)) s: $*"; sleep $((n * 5)); }
  done
  return 1
}

apt_packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$APT_LIST"; }

missing_apt_packages() {
  local pkg status
  for pkg in $(apt_packages); do
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
    [ "${status:0:2}" = "ii" ] || printf '%s\n' "$pkg"
  done
}

setup_apt() {
  local missing sudo=()
  missing="$(missing_apt_packages)"
  if [ -z "$missing" ]; then
    log "apt: all $(apt_packages | wc -l) packages present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install $(echo "$missing" | tr '\n' ' ')"
    sudo=(sudo -n)
  fi
  log "apt: installing $(echo "$missing" | tr '\n' ' ')"
  local t0
  t0="$(now)"
  export DEBIAN_FRONTEND=noninteractive
  retry "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
  # shellcheck disable=SC2046 # one word per package is wanted
  retry "${sudo[@]}" apt-get install -y -qq \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    $(apt_packages) >"${CACHE_DIR}/setup-apt.log" 2>&1 || {
    tail -n 40 "${CACHE_DIR}/setup-apt.log" >&2
    die "apt-get install failed (full log: ${CACHE_DIR}/setup-apt.log)"
  }
  missing="$(missing_apt_packages)"
  [ -z "$missing" ] || die "apt: still missing after install: $missing"
  log "apt: done in $(elapsed "$t0") s"
}

# The venv is keyed twice: on the interpreter (a different one means a new
# venv) and on the requirement files (a changed pin is installed into the
# existing venv, so people using it at that moment are not pulled from under).
# CI always starts from a fresh clone, hence from a new venv.
interpreter_key() { "$1" -c 'import sys; print(sys.executable, sys.version)' | sha256sum | cut -d' ' -f1; }
requirements_key() { cat "$REQ_DEV" "$REQ_PY311" | sha256sum | cut -d' ' -f1; }

setup_venv() {
  local py minor t0 req ikey rkey
  py="$(controller_python)"
  [ -x "$py" ] || die "controller python '$py' is not executable"
  ikey="interpreter $(interpreter_key "$py")"
  rkey="requirements $(requirements_key)"
  if [ -x "${VENV}/bin/python" ] && [ -f "$STAMP" ] &&
    [ "$(sed -n 1p "$STAMP")" = "$ikey" ] && [ "$(sed -n 2p "$STAMP")" = "$rkey" ]; then
    log "venv: ${VENV} up to date ($("${VENV}/bin/python" --version))"
    return
  fi
  minor="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  case "$minor" in
    3.1[2-9]) req=(-r "$REQ_DEV") ;;
    3.11)
      log "venv: only Python 3.11 available: using ansible-core from ${REQ_PY311#"$REPO_ROOT"/}"
      grep -v '^ansible-core==' "$REQ_DEV" >"${CACHE_DIR}/requirements-py311-merged.txt"
      req=(-r "${CACHE_DIR}/requirements-py311-merged.txt" -r "$REQ_PY311")
      ;;
    *) die "Python ${minor} (${py}) is too old for the controller tooling: need 3.11 or newer" ;;
  esac

  t0="$(now)"
  if [ -x "${VENV}/bin/python" ] && [ -f "$STAMP" ] && [ "$(sed -n 1p "$STAMP")" = "$ikey" ]; then
    log "venv: requirements changed: updating ${VENV}"
  else
    log "venv: building ${VENV} from ${py} (Python ${minor})"
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
  fi
  local pip_log="${CACHE_DIR}/setup-pip.log"
  {
    "${VENV}/bin/python" -m pip install --upgrade 'pip==25.2' &&
      "${VENV}/bin/python" -m pip install "${req[@]}" &&
      "${VENV}/bin/python" -m pip check
  } >"$pip_log" 2>&1 || {
    grep -v "^WARNING: Location 'file:" "$pip_log" | tail -n 40 >&2
    die "pip install failed (full log: ${pip_log})"
  }
  printf '%s\n%s\n' "$ikey" "$rkey" >"$STAMP"
  log "venv: done in $(elapsed "$t0") s: ansible-core $("${VENV}/bin/python" -c 'import ansible; print(ansible.__version__)')"
}

setup_apt
setup_venv
