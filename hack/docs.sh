#!/usr/bin/env bash
# The release notes (antsibull-changelog, generated in a copy) and the docs site
# (antsibull-docs from the plugins' and roles' own documentation): the part of
# hack/collection.sh that `make test` runs. See docs/development.md.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/collection.sh" changelog docs
