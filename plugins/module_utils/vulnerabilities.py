# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the kernel's vulnerability files say about SMT.

The raw text is always kept; the parsed status only names the SMT part the
kernel appended (``arch/x86/kernel/cpu/bugs.c``), so a reader can tell
"SMT disabled" from "this file says nothing about SMT".
"""

from __future__ import annotations

from typing import Optional, Tuple

# Ordered: the longer phrases must win over their prefixes.
_SMT_PHRASES = (
    ("SMT Host state unknown", "host_state_unknown"),
    ("SMT enabled with STIBP protection", "enabled_with_stibp"),
    ("SMT vulnerable", "vulnerable"),
    ("SMT disabled", "disabled"),
    ("SMT mitigated", "mitigated"),
)
STIBP_STATES = ("disabled", "forced", "always-on", "conditional")


def smt_status(name: str, raw: str) -> Optional[str]:
    """The SMT part of one vulnerability file, or ``None`` when it has none."""
    for phrase, status in _SMT_PHRASES:
        if phrase in raw:
            return status
    if name == "l1tf" and raw.rstrip().endswith("VMX: vulnerable"):
        # "VMX: vulnerable" alone: no L1D flush and SMT active (bugs.c).
        return "vulnerable"
    return None


def stibp_state(raw: str) -> Optional[str]:
    for part in raw.replace(";", ",").split(","):  # "; STIBP:" since ~6.9, ", STIBP:" before
        key, sep, value = part.strip().partition(":")
        if sep and key.strip() == "STIBP" and value.strip() in STIBP_STATES:
            return value.strip()
    return None


def parse_vulnerability(name: str, raw: str) -> Tuple[str, Optional[str], Optional[str]]:
    text = raw.strip()
    return text, smt_status(name, text), stibp_state(text) if name == "spectre_v2" else None
