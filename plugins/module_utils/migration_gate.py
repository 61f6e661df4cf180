# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration gate: may this guest live-migrate to that host without losing a statement?

A guest keeps the statements it booted with wherever it runs, so a migration
is safe for them only if the destination grants every statement the guest
holds. The check is the one ``smt_hints`` applies to a migration domain
(``hints.decide_domains`` over source and destination); nothing is decided
here that the engine does not decide.

Which placement the guest would have on the destination: the one the
destination's placement lists for it (reserved there, as the planner or an
operator arranged), else the guest's current definition carried over as it
is -- libvirt migrates ``<cputune>`` unchanged unless given a destination
XML, so the same pCPU numbers, topology and emulator pins (``carry_over``;
without it, an unreserved guest is denied ``no_placement`` there, exactly as
``smt_hints`` denies it). A destination whose placement is unknown denies.
The answer says which placement it used.

Pure: plain data in and out.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.audit import read_told
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import (
    STATEMENTS,
    PlacementError,
    Policy,
    decide_domains,
)

PLACEMENT_RESERVED = "reserved"
PLACEMENT_CARRIED = "carried_over"
PLACEMENT_NONE = "none"
PLACEMENT_UNKNOWN = "unknown"


def _guest_entry(placement: Any, guest: str) -> Optional[Mapping[str, Any]]:
    if not isinstance(placement, Mapping) or not isinstance(placement.get("guests"), list):
        return None
    for entry in placement["guests"]:
        if isinstance(entry, Mapping) and entry.get("name") == guest:
            return entry
    return None


def placement_on_destination(source_placement: Any, destination_placement: Any, guest: str,
                             destination: str, carry_over: bool = True) -> Tuple[Any, str]:
    """(the destination's placement as the guest would find it, how the guest's entry got there).

    A destination whose placement was not read stays ``None``: what runs there
    is unknown, and the engine denies (``no_placement``), as ``smt_hints`` does.
    """
    if destination_placement is None:
        return None, PLACEMENT_UNKNOWN
    if not isinstance(destination_placement, Mapping) or not isinstance(destination_placement.get("guests"), list):
        raise PlacementError(destination, "guests", destination_placement,
                             "a placement with a guests list (docs/placement.md)")
    if _guest_entry(destination_placement, guest) is not None:
        return destination_placement, PLACEMENT_RESERVED
    if not carry_over:
        return destination_placement, PLACEMENT_NONE
    entry = _guest_entry(source_placement, guest)
    if entry is None:
        raise PlacementError(None, "guests", guest, "a guest the source host's placement lists")
    base = copy.deepcopy(dict(destination_placement))
    carried = {key: copy.deepcopy(value) for key, value in entry.items()
               if key in ("name", "vcpus", "topology", "emulator", "iothreads", "migration_domain")}
    carried["state"] = "migrating"
    carried["source"] = PLACEMENT_CARRIED
    base["guests"] = list(base["guests"]) + [carried]
    return base, PLACEMENT_CARRIED


def migration_gate(
    guest: str,
    source: str,
    source_facts: Any,
    source_placement: Any,
    destination: str,
    destination_facts: Any,
    destination_placement: Any,
    policy: Optional[Policy] = None,
    carry_over: bool = True,
) -> Dict[str, Any]:
    """Say whether ``destination`` keeps every statement ``guest`` holds on ``source``.

    The statements the guest *holds* are those its record says it was given
    (``record`` in the source placement entry), else those the engine grants
    it on the source now. Returns ``{guest, source, destination, keeps,
    held, lost, placement, statements, reasons, error}``: ``keeps`` is true
    only when nothing held is lost; ``statements`` has, per statement,
    ``held``, ``source`` and ``destination`` (granted?) and the destination's
    reasons. A record that cannot be read denies the migration (``error``):
    what the guest holds is unknown.
    """
    if destination == source:
        raise ValueError("destination %s is the source host: nothing to migrate" % destination)
    entry = _guest_entry(source_placement, guest)
    if entry is None:
        raise PlacementError(source, "guests", guest, "a guest the source host's placement lists")
    dest_placement, how = placement_on_destination(source_placement, destination_placement, guest, destination,
                                                   carry_over)
    members = {source: (source_facts, source_placement), destination: (destination_facts, dest_placement)}
    # One call, the one smt_hints makes for a migration domain: each host decides the
    # guest on its own placement, then the two are combined.
    both = decide_domains(members, {guest: [source, destination]}, source, policy)[guest]
    alone = decide_domains(members, {guest: [source]}, source, policy)[guest]
    told = read_told(entry)
    error = None
    if told.error:
        error = "what guest %s holds cannot be read from its record: %s" % (guest, told.error)
        held: Sequence[str] = STATEMENTS
    elif told.recorded:
        held = told.granted
    else:
        held = [s for s in STATEMENTS if alone[s]["granted"]]
    statements: Dict[str, Any] = {}
    lost: List[str] = []
    reasons: List[Dict[str, str]] = []
    for name in STATEMENTS:
        dest_reasons = [r for r in both[name]["reasons"] if r.get("host") == destination]
        # the destination's reasons appear exactly when it denies (hints._combine)
        dest_granted = not dest_reasons
        statements[name] = {
            "held": name in held,
            "source": alone[name]["granted"],
            "destination": dest_granted,
            "reasons": [{"code": r["code"], "message": r["message"]} for r in dest_reasons],
        }
        if name in held and not dest_granted:
            lost.append(name)
            reasons.extend({"code": r["code"], "message": "%s: %s" % (name, r["message"])} for r in dest_reasons)
    return {
        "guest": guest,
        "source": source,
        "destination": destination,
        "keeps": not lost and error is None,
        "held": list(held) if error is None else [],
        "lost": lost,
        "placement": how,
        "statements": statements,
        "reasons": reasons,
        "error": error,
    }
