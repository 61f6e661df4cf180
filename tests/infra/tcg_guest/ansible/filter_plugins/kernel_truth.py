# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's own view of the CPUs, as an oracle for the Molecule scenarios.

The scenarios check `hvfleet.smt.smt_facts` against what `lscpu` and the raw
sysfs files say. These parsers are deliberately separate from the
collection's topology reader and cpulist grammar: an oracle that shares the
code under test would agree with its bugs.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

from ansible.errors import AnsibleFilterError

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def kernel_cpulist(text: str, where: str = "cpulist") -> List[int]:
    """Parse a cpulist as the kernel prints it (`0-3,8`, empty for none)."""
    text = text.strip()
    if not text:
        return []
    cpus = set()
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            raise AnsibleFilterError(f"{where}: read {text!r}: expected a kernel cpulist like 0-3,8")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise AnsibleFilterError(f"{where}: read {text!r}: range {part} runs backwards")
        cpus.update(range(low, high + 1))
    return sorted(cpus)


def sysfs_values(grep_output: str, required: Sequence[str] = ()) -> Dict[str, str]:
    """Map `path:value` lines (from `grep -H '' FILE...`) to path -> value.

    A file the kernel lacks (smt/control before 4.19) is named in the error
    rather than surfacing later as an undefined-key template failure.
    """
    values: Dict[str, str] = {}
    for line in grep_output.splitlines():
        path, sep, value = line.partition(":")
        if not sep or not path.startswith("/"):
            raise AnsibleFilterError(f"grep -H output: read {line!r}: expected /path:value")
        values[path] = value.strip()
    missing = [path for path in required if path not in values]
    if missing:
        raise AnsibleFilterError(f"{', '.join(missing)}: not found; the oracle needs these files")
    return values


def _lscpu_rows(text: str) -> List[Tuple[int, Optional[int], Optional[int], bool]]:
    """Rows of `lscpu -p=CPU,CORE,SOCKET,ONLINE --all` as (cpu, core, socket, online).

    Offline CPUs have no topology directory, so lscpu leaves their core and
    socket empty.
    """
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(",")
        if len(fields) != 4 or not fields[0].isdigit() or fields[3] not in ("Y", "N"):
            raise AnsibleFilterError(f"lscpu -p=CPU,CORE,SOCKET,ONLINE: read {line!r}: expected cpu,core,socket,Y|N")
        for field in fields[1:3]:
            if field and not field.isdigit():
                raise AnsibleFilterError(f"lscpu -p=CPU,CORE,SOCKET,ONLINE: read {line!r}: core and socket must be numbers or empty")
        core = int(fields[1]) if fields[1] else None
        socket = int(fields[2]) if fields[2] else None
        online = fields[3] == "Y"
        if online and (core is None or socket is None):
            raise AnsibleFilterError(f"lscpu -p=CPU,CORE,SOCKET,ONLINE: read {line!r}: an online CPU must have a core and a socket")
        rows.append((int(fields[0]), core, socket, online))
    if not rows:
        raise AnsibleFilterError("lscpu -p=CPU,CORE,SOCKET,ONLINE: no CPU rows in the output")
    return rows


def lscpu_view(text: str) -> Dict[str, object]:
    """lscpu's answer in the shape the facts use: online/offline CPU ids,
    physical cores as sorted thread lists (ordered by lowest thread), and the
    online CPUs of each socket."""
    rows = _lscpu_rows(text)
    cores: Dict[Tuple[int, int], List[int]] = {}
    sockets: Dict[int, List[int]] = {}
    for cpu, core, socket, online in rows:
        if not online:
            continue
        # lscpu's CORE is a logical index unique across sockets; keying by
        # (socket, core) also catches a core split across sockets.
        cores.setdefault((socket, core), []).append(cpu)  # type: ignore[arg-type]
        sockets.setdefault(socket, []).append(cpu)  # type: ignore[arg-type]
    return {
        "online": sorted(cpu for cpu, _core, _socket, online in rows if online),
        "offline": sorted(cpu for cpu, _core, _socket, online in rows if not online),
        "cores": sorted(sorted(threads) for threads in cores.values()),
        "core_ids": sorted({core for (_socket, core) in cores}),
        "sockets": [{"id": socket, "cpus": sorted(cpus)} for socket, cpus in sorted(sockets.items())],
    }


def sibling_sets(grep_output: str) -> List[List[int]]:
    """Distinct `thread_siblings_list` sets, from `grep -H '' .../cpuN/topology/thread_siblings_list`.

    Each CPU must appear in its own list: the kernel promises that, and a
    list that breaks it would make the comparison meaningless.
    """
    sets = set()
    for path, value in sysfs_values(grep_output).items():
        match = re.search(r"/cpu(\d+)/topology/thread_siblings_list$", path)
        if not match:
            raise AnsibleFilterError(f"{path}: expected a .../cpuN/topology/thread_siblings_list path")
        siblings = kernel_cpulist(value, path)
        if int(match.group(1)) not in siblings:
            raise AnsibleFilterError(f"{path}: read {value!r}: expected a list containing cpu{match.group(1)} itself")
        sets.add(tuple(siblings))
    return sorted(list(siblings) for siblings in sets)


def fact_cores(cores: List[Dict[str, object]]) -> List[List[int]]:
    """The facts' physical cores as sorted thread lists, in the same order
    as the oracle's (a list of lists compares equal only in one order)."""
    return sorted(sorted(core["threads"]) for core in cores)  # type: ignore[arg-type]


class FilterModule:
    """Filters for the Molecule scenarios' verify playbooks."""

    def filters(self):
        return {
            "kernel_cpulist": kernel_cpulist,
            "sysfs_values": sysfs_values,
            "lscpu_view": lscpu_view,
            "sibling_sets": sibling_sets,
            "fact_cores": fact_cores,
        }
