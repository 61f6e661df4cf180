"""SMT parts of the kernel's vulnerability strings (arch/x86/kernel/cpu/bugs.c)."""

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.vulnerabilities import parse_vulnerability


@pytest.mark.parametrize("name, raw, smt, stibp", [
    ("mds", "Mitigation: Clear CPU buffers; SMT vulnerable", "vulnerable", None),
    ("mds", "Mitigation: Clear CPU buffers; SMT disabled", "disabled", None),
    ("mds", "Mitigation: Clear CPU buffers; SMT mitigated", "mitigated", None),
    ("mds", "Mitigation: Clear CPU buffers; SMT Host state unknown", "host_state_unknown", None),
    ("tsx_async_abort", "Not affected", None, None),
    ("l1tf", "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable", "vulnerable", None),
    ("l1tf", "Mitigation: PTE Inversion; VMX: vulnerable", "vulnerable", None),
    ("l1tf", "Mitigation: PTE Inversion", None, None),
    ("retbleed", "Mitigation: untrained return thunk; SMT enabled with STIBP protection",
     "enabled_with_stibp", None),
    ("spec_rstack_overflow", "Mitigation: SMT disabled", "disabled", None),
    ("spectre_v2", "Mitigation: Retpolines; IBPB: conditional; STIBP: always-on; RSB filling",
     None, "always-on"),
    ("spectre_v2", "Mitigation: Enhanced / Automatic IBRS; IBPB: conditional; RSB filling", None, None),
])
def test_smt_and_stibp_parts(name, raw, smt, stibp):
    assert parse_vulnerability(name, raw + "\n") == (raw, smt, stibp)
