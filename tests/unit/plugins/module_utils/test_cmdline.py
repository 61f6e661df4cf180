"""Kernel command line: SMT and isolation parameters."""

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.cmdline import parse_cmdline, split_params
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import FactsError


@pytest.mark.parametrize("raw, nosmt", [
    ("ro quiet", None),
    ("nosmt", "nosmt"),
    ("nosmt=force", "force"),
    ("nosmt nosmt=force", "force"),
    ("l1tf=full,force", "force"),
    ("l1tf=full", None),
])
def test_nosmt(raw, nosmt):
    assert parse_cmdline(raw, 8).nosmt == nosmt


def test_mitigations_nosmt():
    assert parse_cmdline("mitigations=auto,nosmt", 8).mitigations_nosmt
    assert not parse_cmdline("mitigations=auto", 8).mitigations_nosmt
    assert not parse_cmdline("", 8).mitigations_nosmt


def test_isolcpus_flags_and_list():
    iso = parse_cmdline("isolcpus=managed_irq,domain,2-3,6-7", 8).isolcpus
    assert iso.flags == ("managed_irq", "domain") and iso.cpus == (2, 3, 6, 7)
    plain = parse_cmdline("isolcpus=1-N", 4).isolcpus
    assert plain.flags == ("domain",) and plain.cpus == (1, 2, 3)
    # unknown flags are skipped by the kernel with a warning
    assert parse_cmdline("isolcpus=bogus,2", 4).isolcpus.cpus == (2,)


def test_nohz_full_and_irqaffinity():
    c = parse_cmdline("nohz_full=2-7:1/2 irqaffinity=0-1", 8)
    assert c.nohz_full == (2, 4, 6) and c.irqaffinity == (0, 1)


def test_params_after_double_dash_belong_to_init():
    assert parse_cmdline("ro -- nosmt=force", 8).nosmt is None


def test_quotes_group_spaces():
    assert split_params('a="x y" b') == [("a", "x y"), ("b", None)]


def test_bad_cpulist_names_the_parameter():
    with pytest.raises(FactsError) as err:
        parse_cmdline("isolcpus=3-1", 8, "/x/proc/cmdline")
    assert err.value.path == "/x/proc/cmdline" and "isolcpus=3-1" in str(err.value)
