"""Runtime SMT transitions: decided before any write, refused with the remedy."""

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.smt_control import TransitionRefused, plan_transition


@pytest.mark.parametrize("current, target, write", [
    ("on", "off", "off"), ("on", "forceoff", "forceoff"), ("off", "on", "on"), ("off", "forceoff", "forceoff"),
    ("on", "on", None), ("forceoff", "forceoff", None), ("notsupported", "off", None),
    ("notsupported", "forceoff", None), ("notimplemented", "off", None),
    ("2", "on", None), ("1", "off", None), ("2", "off", "off"), ("1", "on", "on"), ("4", "forceoff", "forceoff"),
])
def test_allowed(current, target, write):
    assert plan_transition(current, target).write == write


@pytest.mark.parametrize("current, target, words", [
    ("forceoff", "on", "reboot"), ("forceoff", "off", "EPERM"), ("notsupported", "on", "no SMT"),
    ("notimplemented", "on", "no SMT"), ("unknown", "off", "boot parameter"), ("on", "maybe", "expected"),
    ("garbage", "on", "expected"),
])
def test_refused_with_reason(current, target, words):
    with pytest.raises(TransitionRefused) as err:
        plan_transition(current, target)
    assert words in str(err.value)
