#!/usr/bin/env bash
# `make demo`: the main job on the embedded default — this machine plus the
# bundled sample hosts (sysfs trees generated from tests/fixtures/topologies.yml).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
require_venv

samples="${CACHE_DIR}/demo/samples"
report_dir="${HVFLEET_REPORT_DIR:-${REPO_ROOT}/out/demo}"
log "writing sample hosts' sysfs trees to ${samples}"
rm -rf "$samples"
python tests/fixtures/sysfs.py --all "$samples" >/dev/null

log "running the main job (playbooks/main.yml) on playbooks/inventory/demo"
mkdir -p "${CACHE_DIR}/collections/ansible_collections/hvfleet"
ln -sfn "$REPO_ROOT" "${CACHE_DIR}/collections/ansible_collections/hvfleet/smt"
export ANSIBLE_COLLECTIONS_PATH="${CACHE_DIR}/collections"
export ANSIBLE_PIPELINING=1 ANSIBLE_FORKS=8 ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-}"
ansible-playbook -i playbooks/inventory/demo playbooks/main.yml \
  -e "hvfleet_demo_root=${samples}" -e "smt_report_dir=${report_dir}"
log "report: ${report_dir}/report.json, ${report_dir}/summary.txt, ${report_dir}/report.html"
