# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel command line parameters that decide whether SMT can come back.

``nosmt`` can be undone through sysfs, ``nosmt=force`` cannot; ``l1tf=full,force``
implies the latter. Isolation parameters tell which CPUs host tasks avoid.
Parsing follows ``kernel/params.c`` (space-separated, double quotes group)
and ``kernel/sched/isolation.c`` for ``isolcpus=[flags,]cpulist``.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import parse_cpulist
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError, FactsError

ISOLCPUS_FLAGS = ("nohz", "domain", "managed_irq")


# Plain slotted classes rather than dataclasses: smt_facts compiles and runs
# this file from its AnsiballZ zip on every run, and creating frozen
# dataclasses costs it measurable time (see topology._Record).


class Isolcpus:
    __slots__ = ("cpus", "flags")

    def __init__(self, cpus: Tuple[int, ...], flags: Tuple[str, ...]):
        self.cpus = cpus
        self.flags = flags  # the kernel's default with no flags is "domain"

    def __repr__(self):
        return "Isolcpus(cpus=%r, flags=%r)" % (self.cpus, self.flags)


class Cmdline:
    __slots__ = ("raw", "nosmt", "mitigations", "l1tf", "isolcpus", "nohz_full", "irqaffinity")

    def __init__(self, raw: str, nosmt: Optional[str], mitigations: Optional[str], l1tf: Optional[str],
                 isolcpus: Optional[Isolcpus], nohz_full: Optional[Tuple[int, ...]],
                 irqaffinity: Optional[Tuple[int, ...]]):
        self.raw = raw
        self.nosmt = nosmt  # None, "nosmt" (reversible) or "force"
        self.mitigations = mitigations
        self.l1tf = l1tf
        self.isolcpus = isolcpus
        self.nohz_full = nohz_full
        self.irqaffinity = irqaffinity

    @property
    def mitigations_nosmt(self) -> bool:
        return self.mitigations is not None and "nosmt" in self.mitigations.split(",")


def split_params(raw: str) -> List[Tuple[str, Optional[str]]]:
    """``[(name, value)]`` in order; quotes group spaces as ``next_arg()`` does."""
    params = []
    token, quoted, tokens = [], False, []
    for char in raw:
        if char == '"':
            quoted = not quoted
        elif char.isspace() and not quoted:
            if token:
                tokens.append("".join(token))
                token = []
        else:
            token.append(char)
    if token:
        tokens.append("".join(token))
    for item in tokens:
        if item == "--":  # the rest is for init, not the kernel
            break
        name, sep, value = item.partition("=")
        params.append((name, value if sep else None))
    return params


def parse_cmdline(raw: str, nr_cpus: Optional[int], path: str = "/proc/cmdline") -> Cmdline:
    """Last occurrence wins, as for the kernel's ``__setup`` handlers we care about."""
    values = {}
    for name, value in split_params(raw):
        values[name.replace("-", "_") if name.startswith("nohz") else name] = value
    nosmt = None
    if "nosmt" in values:
        nosmt = "force" if values["nosmt"] == "force" else "nosmt"
    l1tf = values.get("l1tf")
    if l1tf == "full,force" and nosmt is None:
        nosmt = "force"
    return Cmdline(
        raw=raw.strip(),
        nosmt=nosmt,
        mitigations=values.get("mitigations"),
        l1tf=l1tf,
        isolcpus=_isolcpus(values["isolcpus"], nr_cpus, path) if values.get("isolcpus") is not None else None,
        nohz_full=_cpus("nohz_full", values.get("nohz_full"), nr_cpus, path),
        irqaffinity=_cpus("irqaffinity", values.get("irqaffinity"), nr_cpus, path),
    )


def _isolcpus(value: str, nr_cpus: Optional[int], path: str) -> Isolcpus:
    flags = []
    rest = value
    while rest and rest[0].isalpha() and rest not in ("all",) and not rest.startswith("N"):
        flag, sep, tail = rest.partition(",")
        if flag in ISOLCPUS_FLAGS:  # the kernel skips unknown flags with a warning
            flags.append(flag)
        rest = tail
    cpus = _cpus("isolcpus", rest, nr_cpus, path)
    return Isolcpus(cpus=cpus or (), flags=tuple(flags) or ("domain",))


def _cpus(name: str, value: Optional[str], nr_cpus: Optional[int], path: str) -> Optional[Tuple[int, ...]]:
    if value is None:
        return None
    try:
        return tuple(parse_cpulist(value, nr_cpus))
    except CpulistError as err:
        raise FactsError(path, "%s=%s" % (name, value), err.expected) from None
