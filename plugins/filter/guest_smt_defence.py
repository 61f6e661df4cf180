# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest's SMT defence, decided from what it was told (docs/guest-policy.md)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.guest_policy import PolicyError, choose, policy_input


def guest_smt_defence(hints, untrusted_workloads=True, fallback="stibp"):
    """Decide from ``hvfleet_guest_smt`` (guest_smt_hints); returns the decision as a dict."""
    if not isinstance(hints, dict) or not isinstance(hints.get("granted"), list) \
            or not isinstance(hints.get("guest"), dict):
        raise AnsibleFilterError("guest_smt_defence: expected the hvfleet_guest_smt fact of "
                                 "hvfleet.smt.guest_smt_hints (with 'granted' and 'guest'), got %r"
                                 % (type(hints).__name__,))
    try:
        return choose(policy_input(hints["granted"], hints["guest"], untrusted_workloads, fallback)).to_dict()
    except PolicyError as err:
        raise AnsibleFilterError("guest_smt_defence: %s" % err) from None


class FilterModule:
    def filters(self):
        return {"guest_smt_defence": guest_smt_defence}
