#!/usr/bin/env bash
# Placeholder: the demo is being written by another engineer.
set -euo pipefail
echo "demo not ready" >&2
exit 1
