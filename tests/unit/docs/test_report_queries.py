# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every json_query example of docs/report.md, run against the sample fleet, must give what the page says.

community.general.json_query is jmespath.search over the document, so
running the very expressions of the page with jmespath keeps the examples
true as the report grows.
"""

import json
import re
import sys
from pathlib import Path

import jmespath
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import report_samples  # noqa: E402  pylint: disable=wrong-import-position

DOC = Path(__file__).resolve().parents[3] / "docs" / "report.md"
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
EXAMPLE = re.compile(r"^ +query: (\".*\")\n +# sample: (.+)$", re.M)


def _blocks():
    return [b for b in BLOCK.findall(DOC.read_text(encoding="utf-8")) if "json_query" in b]


def _examples():
    out = []
    for block in _blocks():
        for quoted, expected in EXAMPLE.findall(block):
            out.append(pytest.param(yaml.safe_load(quoted), json.loads(expected), id=yaml.safe_load(quoted)[:60]))
    return out


@pytest.fixture(scope="module")
def report():
    return report_samples.sample_report()


def test_the_page_has_the_promised_examples():
    queries = [p.values[0] for p in _examples()]
    assert len(queries) >= 10
    assert "hosts[].guests[?statements.no_nonarch_core_sharing.reasons[?code=='sibling_shared']][].name" in queries


def test_every_example_block_is_yaml_whose_tasks_use_their_query():
    for block in _blocks():
        tasks = yaml.safe_load(block)
        for task in tasks:
            assert "community.general.json_query(query)" in task["ansible.builtin.debug"]["msg"], task["name"]
            assert task["vars"]["query"]
    # Every query line carries its expected result: none can escape the test.
    text = "".join(_blocks())
    assert text.count("query: ") == len(_examples())


@pytest.mark.parametrize(("query", "expected"), _examples())
def test_example_gives_what_the_page_says(report, query, expected):
    assert jmespath.search(query, report) == expected
