#!/usr/bin/env bash
# What a release of the collection needs, checked on what a commit would hold:
#   build      ansible-galaxy collection build (the tarball users install);
#   importer   galaxy-importer on that tarball, as Galaxy/Automation Hub would
#              import it (ansible-doc, ansible-lint, changelog, role READMEs);
#              no container engine: it never runs ansible-test (hack/sanity.sh does);
#   changelog  antsibull-changelog lint, then `release` into the copy only, so
#              the release notes are generated without touching the repository;
#   docs       a Sphinx site built with antsibull-docs from the plugins' and
#              roles' own documentation (ansible-doc), offline.
# galaxy-importer and antsibull-docs live in their own venvs (.cache/tools/,
# pinned in tests/requirements-{galaxy-importer,docs}.txt). Everything is
# written under .cache/collection/; each step is timed; all run; fails if any failed.
# Arguments name the steps to run (default: all four; importer implies build):
#   bash hack/collection.sh changelog docs     # what hack/docs.sh runs
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv

OUT="${CACHE_DIR}/collection"
SRC="${OUT}/src/ansible_collections/hvfleet/smt"
LOG_DIR="${CACHE_DIR}/logs"
mkdir -p "$LOG_DIR"
export ANSIBLE_HOME="${OUT}/ansible-home"
export ANSIBLE_NOCOLOR=1 NO_COLOR=1 ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1

STEPS=(build importer changelog docs)
if [ "$#" -gt 0 ]; then
  for want in "$@"; do
    case " ${STEPS[*]} " in *" ${want} "*) ;; *) die "unknown step '${want}' (steps: ${STEPS[*]})" ;; esac
  done
  wanted=" $* "
  [[ "$wanted" == *" importer "* ]] && wanted="${wanted} build "
else
  wanted=" ${STEPS[*]} "
fi

t_all="$(now)"
importer_venv=""
docs_venv=""
if [[ "$wanted" == *" importer "* ]]; then
  importer_venv="$(tool_venv galaxy-importer "${REPO_ROOT}/tests/requirements-galaxy-importer.txt")"
fi
if [[ "$wanted" == *" docs "* ]]; then
  docs_venv="$(tool_venv docs "${REPO_ROOT}/tests/requirements-docs.txt")"
fi
log "collection: tool venvs ready after $(elapsed "$t_all") s"

# The tracked files plus untracked ones .gitignore does not ignore: what a
# commit of the working tree would contain (as hack/sanity.sh tests).
rm -rf "$OUT/src" "$OUT/build" "$OUT/changelog" "$OUT/docs" "$ANSIBLE_HOME"
mkdir -p "$SRC" "$OUT/build" "$ANSIBLE_HOME"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
  done |
  tar --null --no-recursion -T - -cf - | tar -xf - -C "$SRC"
version="$("${VENV}/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "${SRC}/galaxy.yml")"
tarball="${OUT}/build/hvfleet-smt-${version}.tar.gz"

failed=()
results=()
step() {
  local name="$1" t0 rc=0
  shift
  log "collection: ${name}"
  t0="$(now)"
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    results+=("$(printf '%-10s passed %6s s' "$name" "$(elapsed "$t0")")")
  else
    results+=("$(printf '%-10s FAILED %6s s' "$name" "$(elapsed "$t0")")")
    failed+=("$name")
  fi
}

build() {
  (cd "$SRC" && ansible-galaxy collection build --force --output-path "${OUT}/build" .) >"${LOG_DIR}/collection-build.log" 2>&1 || {
    cat "${LOG_DIR}/collection-build.log" >&2
    return 1
  }
  log "collection: built ${tarball} ($(du -k "$tarball" | cut -f1) kB)"
}

importer() {
  local cfg="${OUT}/galaxy-importer.cfg" logfile="${LOG_DIR}/collection-galaxy-importer.log"
  [ -f "$tarball" ] || { log "no tarball to import (the build failed)"; return 1; }
  # No ansible-test here: in galaxy-importer that means a container (docker or
  # podman, neither of which this machine has); hack/sanity.sh runs it instead.
  # flake8 is off: ansible-test's pep8 and pylint are the style gate.
  cat >"$cfg" <<EOF
[galaxy-importer]
run_ansible_test = False
ansible_test_local_image = False
local_image_docker = False
run_ansible_doc = True
run_ansible_lint = True
offline_ansible_lint = True
run_flake8 = False
check_changelog = True
check_required_tags = False
ansible_local_tmp = ${ANSIBLE_HOME}/tmp
EOF
  (cd "${OUT}/build" && PATH="${importer_venv}/bin:${PATH}" GALAXY_IMPORTER_CONFIG="$cfg" \
    "${importer_venv}/bin/python" -m galaxy_importer.main "$tarball") >"$logfile" 2>&1 || {
    grep -E "ERROR|Traceback|Error" "$logfile" | tail -n 20 >&2
    log "galaxy-importer failed (full log: ${logfile})"
    return 1
  }
  # Warnings are findings too (ansible-lint results, documentation problems).
  if grep -E "^(WARNING|ERROR)" "$logfile" >&2; then
    log "galaxy-importer reported the findings above (full log: ${logfile})"
    return 1
  fi
  log "galaxy-importer: $(grep -c '^Loading ' "$logfile") contents imported, no findings (log: ${logfile})"
}

changelog() {
  local dir="${OUT}/changelog"
  antsibull-changelog lint || return 1
  # `release` rewrites changelogs/changelog.yaml and consumes the fragments:
  # do it in the copy, then keep the generated notes.
  (cd "$SRC" && antsibull-changelog release --version "$version" --date "$(date -u +%Y-%m-%d)") \
    >"${LOG_DIR}/collection-changelog.log" 2>&1 || {
    cat "${LOG_DIR}/collection-changelog.log" >&2
    return 1
  }
  mkdir -p "$dir"
  cp "${SRC}/CHANGELOG.md" "${SRC}/changelogs/changelog.yaml" "$dir/"
  grep -q "<a id=\"v${version//./-}\"></a>" "${dir}/CHANGELOG.md" || { log "CHANGELOG.md has no v${version} section"; return 1; }
  log "changelog: release notes for ${version} in ${dir}/CHANGELOG.md ($(grep -c '^\* ' "${dir}/CHANGELOG.md") entries)"
}

docs() {
  local dir="${OUT}/docs" logfile="${LOG_DIR}/collection-docs.log" problems
  # The site generator and renderer run on the copy: never on a collection
  # that happens to be installed elsewhere.
  export ANSIBLE_COLLECTIONS_PATH="${OUT}/src"
  # antsibull-docs insists on directories only their owner may write to.
  mkdir -p "$dir" && chmod 755 "$dir"
  {
    PATH="${docs_venv}/bin:${PATH}" antsibull-docs sphinx-init --use-current --dest-dir "$dir" hvfleet.smt &&
      cat >>"${dir}/conf.py" <<'EOF'

# hvfleet.smt: built offline (hack/collection.sh), so there are no inventories to fetch.
extensions.remove('sphinx.ext.intersphinx')
intersphinx_mapping = {}
EOF
    mkdir -p "${dir}/rst" && chmod og-w "${dir}/rst" &&
      PATH="${docs_venv}/bin:${PATH}" antsibull-docs --config-file "${dir}/antsibull-docs.cfg" collection \
        --cleanup everything --use-current --dest-dir "${dir}/rst" hvfleet.smt &&
      PATH="${docs_venv}/bin:${PATH}" sphinx-build -M html "${dir}/rst" "${dir}/build" -c "$dir" -q \
        -w "${dir}/warnings.log" --keep-going
  } >"$logfile" 2>&1 || {
    tail -n 30 "$logfile" >&2
    return 1
  }
  # Every warning fails the step, except links to labels of Ansible's own
  # documentation (common_return_values, ...), which only intersphinx could
  # resolve, and intersphinx needs the network. Labels of this collection
  # (ansible_collections.hvfleet.smt.*) must resolve.
  problems="$(grep -E "WARNING|ERROR" "${dir}/warnings.log" "$logfile" |
    grep -vE "undefined label: '([a-z0-9_]+)' \[ref\.ref\]" || true)"
  problems="${problems}$(grep -E "undefined label: 'ansible_collections\.hvfleet\.smt" "${dir}/warnings.log" || true)"
  problems="${problems}$(grep -E "nonfatal_errors|did not return correct DOCUMENTATION" "$logfile" || true)"
  if [ -n "$problems" ]; then
    printf '%s\n' "$problems" >&2
    log "docs: the site has the problems above (logs: ${logfile}, ${dir}/warnings.log)"
    return 1
  fi
  log "docs: $(find "${dir}/build/html/collections/hvfleet/smt" -name '*.html' | wc -l) pages, open ${dir}/build/html/index.html"
}

for name in "${STEPS[@]}"; do
  if [[ "$wanted" == *" ${name} "* ]]; then
    step "$name" "$name"
  fi
done

printf '%s\n' "${results[@]}" >&2
log "collection: finished in $(elapsed "$t_all") s (output in ${OUT})"
if [ "${#failed[@]}" -gt 0 ]; then
  die "collection checks failed: ${failed[*]}"
fi
