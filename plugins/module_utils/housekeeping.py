# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The housekeeping set: CPUs where host tasks may run, from file contents handed in.

A guest core is only free of non-architectural sharing if no host task can
run on it, so this set must never be too small. A CPU is housekeeping when
it is online and either

* not isolated (``cpu/isolated``: isolcpus domain isolation -- unbound kernel
  work and tasks started with the default affinity land there), or
* inside the cpuset of ``system.slice``, ``user.slice`` or ``init.scope``:
  a task may move itself anywhere its cgroup allows (``sched_setaffinity``
  needs no privilege for one's own tasks), so the cgroup bound is what
  counts, not the affinity tasks happen to have now.

Each unit's bound comes from, in order: its cgroup's effective cpuset (v2
``cpuset.cpus.effective``, v1 ``cpuset.effective_cpus``); when its cgroup
exists without a cpuset, no bound; when systemd is not running (no cgroup for
the unit at all), systemd's ``AllowedCPUs=`` from the unit file and its
drop-ins, as systemd would merge them -- what the next boot will apply; else
no bound. ``CPUAffinity=`` is not a bound (a task may widen it) and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import format_cpulist, parse_printed
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError, FactsError

Cpus = Tuple[int, ...]

HOST_UNITS = ("system.slice", "user.slice", "init.scope")

# systemd's search path for system units, highest priority first (systemd.unit(5)).
SYSTEMD_UNIT_DIRS = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)

SYSTEMD_CPU_SET = "a systemd CPU set: CPU ids or ranges 'a-b' separated by spaces or commas"


@dataclass(frozen=True)
class UnitBound:
    """Where the tasks of one systemd unit may run, and how that was found out."""

    unit: str
    cpus: Optional[Cpus]  # None: no bound (every online CPU)
    source: str


@dataclass(frozen=True)
class Housekeeping:
    cpus: Cpus
    source: str
    online: Cpus
    isolated: Cpus
    units: Tuple[UnitBound, ...]

    def as_detail(self) -> dict:
        return {
            "online": list(self.online),
            "isolated": list(self.isolated),
            "units": [
                {"unit": u.unit, "cpus": None if u.cpus is None else list(u.cpus), "source": u.source}
                for u in self.units
            ],
        }


def unit_from_cgroup(unit: str, path: str, text: str) -> UnitBound:
    """A unit's bound from its cgroup's effective cpuset file (same format in v1 and v2)."""
    try:
        cpus = parse_printed(text)
    except CpulistError:
        raise FactsError(path, text.strip(), "a kernel cpulist such as '0-3,8'")
    return UnitBound(unit, tuple(cpus), "cgroup %s" % path)


def unit_without_cpuset(unit: str, cgroup_dir: str) -> UnitBound:
    """A unit whose cgroup exists but has no cpuset: the cpuset controller does not bound it."""
    return UnitBound(unit, None, "cgroup %s has no cpuset controller: not bound" % cgroup_dir)


def unit_unbound(unit: str) -> UnitBound:
    return UnitBound(unit, None, "no cgroup and no AllowedCPUs= for %s: not bound" % unit)


def unit_file_candidates(unit: str) -> List[Tuple[str, str]]:
    """``(directory, kind)`` to look in, highest priority first: unit files, then drop-in dirs.

    ``kind`` is ``unit`` (the unit file itself, first found wins) or ``dropin``
    (``<unit>.d/`` and the unit-type directory ``<type>.d/``, e.g. ``slice.d``).
    """
    unit_type = unit.rsplit(".", 1)[-1]
    out = [(d, "unit") for d in SYSTEMD_UNIT_DIRS]
    out += [("%s/%s.d" % (d, unit), "dropin") for d in SYSTEMD_UNIT_DIRS]
    out += [("%s/%s.d" % (d, unit_type), "dropin") for d in SYSTEMD_UNIT_DIRS]
    return out


def dropin_order(listings: Sequence[Tuple[str, Iterable[str]]]) -> List[str]:
    """Order drop-in files as systemd applies them.

    ``listings`` holds ``(directory, file names)`` in priority order (highest
    first). A file name in a higher-priority directory masks the same name
    lower down; the survivors are applied in lexicographic order of their
    names, whatever their directory.
    """
    chosen = {}
    for directory, names in listings:
        for name in names:
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = "%s/%s" % (directory, name)
    return [chosen[name] for name in sorted(chosen)]


def unit_from_systemd_files(unit: str, files: Sequence[Tuple[str, str]]) -> UnitBound:
    """A unit's bound from ``AllowedCPUs=`` in its unit file and drop-ins, in application order.

    systemd merges repeated assignments and resets on an empty one; a unit
    with no assignment left is not bound. ``files`` holds ``(path, text)``.
    """
    section = "Scope" if unit.endswith(".scope") else "Slice"
    cpus: Optional[set] = None
    origins: List[str] = []
    for path, text in files:
        for value in _assignments(text, section, "AllowedCPUs"):
            if not value:
                cpus, origins = None, [path]
                continue
            parsed = parse_systemd_cpu_set(value, path)
            cpus = (cpus or set()) | set(parsed)
            if path not in origins:
                origins.append(path)
    if cpus is None:
        if origins:
            return UnitBound(unit, None, "AllowedCPUs= reset in %s: not bound" % origins[-1])
        return unit_unbound(unit)
    return UnitBound(
        unit, tuple(sorted(cpus)),
        "systemd AllowedCPUs= in %s (no cgroup for %s: systemd is not running it now)"
        % (", ".join(origins), unit),
    )


def _assignments(text: str, section: str, key: str) -> List[str]:
    """Values of ``key=`` inside ``[section]``, in order (continuation lines joined)."""
    values = []
    current = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        name, sep, value = line.partition("=")
        if sep and current == section and name.strip() == key:
            values.append(value.strip())
    return values


def parse_systemd_cpu_set(text: str, path: str) -> Cpus:
    """Parse systemd's CPU set syntax (``0-3 8,10``); anything else names the file."""
    cpus = set()
    for word in text.replace(",", " ").split():
        lo, dash, hi = word.partition("-")
        if not _uint(lo) or (dash and not _uint(hi)) or (dash and int(hi) < int(lo)):
            raise FactsError(path, text, SYSTEMD_CPU_SET)
        cpus.update(range(int(lo), (int(hi) if dash else int(lo)) + 1))
    return tuple(sorted(cpus))


def housekeeping(online: Sequence[int], isolated: Sequence[int], units: Sequence[UnitBound]) -> Housekeeping:
    """Union of the online CPUs that are not isolated and every unit's bound, within the online CPUs."""
    online_set = set(online)
    cpus = online_set - set(isolated)
    for bound in units:
        cpus |= online_set if bound.cpus is None else online_set & set(bound.cpus)
    return Housekeeping(
        cpus=tuple(sorted(cpus)),
        source=_source(online, isolated, units),
        online=tuple(sorted(online_set)),
        isolated=tuple(sorted(set(isolated))),
        units=tuple(units),
    )


def _source(online: Sequence[int], isolated: Sequence[int], units: Sequence[UnitBound]) -> str:
    unbound = [u.unit for u in units if u.cpus is None]
    if unbound:
        return "every online CPU: %s not bound to CPUs (%s)" % (
            ", ".join(unbound), "; ".join(u.source for u in units if u.cpus is None))
    parts = ["online CPUs not isolated (%s isolated)" % (format_cpulist(isolated) or "none")]
    parts += ["%s %s from %s" % (u.unit, format_cpulist(u.cpus or ()) or "(none)", u.source) for u in units]
    return "; ".join(parts)


def _uint(token: str) -> bool:
    return bool(token) and all(c in "0123456789" for c in token)


def cgroup_candidates(unit: str) -> List[Tuple[str, str]]:
    """``(cgroup directory, effective cpuset file name)`` to try, v2 first, relative to the sysroot."""
    return [
        ("sys/fs/cgroup/%s" % unit, "cpuset.cpus.effective"),
        ("sys/fs/cgroup/unified/%s" % unit, "cpuset.cpus.effective"),
        ("sys/fs/cgroup/cpuset/%s" % unit, "cpuset.effective_cpus"),
    ]
