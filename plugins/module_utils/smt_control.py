# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which runtime SMT transitions the kernel allows, decided before any write.

``kernel/cpu.c`` refuses some writes to ``smt/control`` (EPERM after
``forceoff``, ENODEV where the CPU has no SMT). Deciding them here gives the
operator the reason and the remedy instead of an errno, and lets check mode
predict exactly what a real run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

TARGETS = ("on", "off", "forceoff")


@dataclass(frozen=True)
class Transition:
    write: Optional[str]  # what to write to smt/control, None when nothing is needed
    message: str


class TransitionRefused(Exception):
    pass


def plan_transition(current: str, target: str) -> Transition:
    """What to write to go from ``current`` (as read) to ``target``."""
    if target not in TARGETS:
        raise TransitionRefused("SMT control target %r: expected one of %s" % (target, ", ".join(TARGETS)))
    if current == target:
        return Transition(None, "SMT control is already %s" % current)
    if current == "forceoff":
        raise TransitionRefused(
            "SMT control is 'forceoff': SMT stays disabled until reboot and the kernel refuses "
            "further writes (EPERM). To get %r, remove nosmt=force from the kernel command line and reboot."
            % target
        )
    if current in ("notsupported", "notimplemented"):
        if target == "on":
            raise TransitionRefused(
                "SMT control is %r: this CPU or kernel has no SMT to switch on" % current
            )
        return Transition(None, "SMT control is %r: there is no SMT to switch off" % current)
    if current == "unknown":
        raise TransitionRefused(
            "smt/control is absent (kernel older than 4.19): SMT cannot be changed at runtime; "
            "use the nosmt or nosmt=force boot parameter"
        )
    if current.isdigit():
        threads = int(current)
        if target == "on" and threads > 1:
            return Transition(None, "SMT control is %d threads per core: SMT is on" % threads)
        if target == "off" and threads == 1:
            return Transition(None, "SMT control is 1 thread per core: SMT is off")
        return Transition(target, "SMT control %s -> %s" % (current, target))
    if current in ("on", "off"):
        return Transition(target, "SMT control %s -> %s" % (current, target))
    raise TransitionRefused("smt/control reads %r: expected on, off, forceoff, notsupported, notimplemented or a number" % current)
