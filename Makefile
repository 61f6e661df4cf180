# Developer and CI entry points; the work is done by the scripts in hack/.
# See docs/development.md.
.DEFAULT_GOAL := help
.PHONY: help setup test units sanity lint docs collection integration molecule demo

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

setup: ## install Debian packages and the pinned .venv (fast when already done)
	@bash hack/setup.sh

test: ## everything CI runs: setup, sanity, units, lint, collection, integration, molecule; stops at the first failure
	@bash hack/test.sh

units: setup ## unit tests (pytest over tests/unit)
	@bash hack/units.sh

sanity: setup ## ansible-test sanity on a temp copy (ansible-core 2.21 and 2.20); compile+import on Python 3.9-3.13
	@bash hack/sanity.sh

lint: setup ## yamllint, ansible-lint (production), changelog fragments, shellcheck
	@bash hack/lint.sh

docs: setup ## release notes (antsibull-changelog, in a copy) and the docs site (antsibull-docs) in .cache/collection; a part of `collection`
	@bash hack/docs.sh

collection: setup ## docs, plus the tarball and galaxy-importer on it (part of `make test`)
	@bash hack/collection.sh

integration: setup ## pytest over tests/integration (playbooks, ansible-runner, fact caches; no guests)
	@bash hack/integration.sh

molecule: setup ## every Molecule scenario under extensions/molecule/
	@bash hack/molecule.sh

demo: setup ## the end-to-end demo
	@bash hack/demo.sh
