# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Editing kernel boot parameters as text, before any bootloader tool sees them.

The edit is pure so that check mode, diff and the real run share it: a
parameter given in ``present`` replaces every earlier occurrence of the same
name (``nosmt`` and ``nosmt=force`` are one parameter), ``absent`` removes by
name. ``/etc/default/grub`` is a shell fragment; only a plainly quoted value
is edited, anything with expansions is refused rather than mangled.
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cmdline import split_params
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_VALUE = re.compile(r"^[A-Za-z0-9_.,:/\-=+]*$")
GRUB_KEY = "GRUB_CMDLINE_LINUX"


class BootParamError(HvfleetError):
    pass


def validate_param(item: str) -> Tuple[str, Optional[str]]:
    """Refuse anything that is not ``name`` or ``name=value`` in the kernel's plain form."""
    if not isinstance(item, str):
        raise BootParamError("boot parameter %r: expected a string like 'nosmt=force'" % (item,))
    name, sep, value = item.partition("=")
    if not _NAME.match(name) or (sep and not _VALUE.match(value)):
        raise BootParamError(
            "boot parameter %r: expected 'name' or 'name=value' with letters, digits and _.,:/-=+ only" % item
        )
    return name, value if sep else None


def edit_params(raw: str, present: Sequence[str], absent: Sequence[str]) -> str:
    tokens = _tokens(raw)
    for name in absent:
        validate_param(name)
        tokens = [t for t in tokens if _name(t) != name.partition("=")[0]]
    for item in present:
        name, _value = validate_param(item)
        index = next((i for i, t in enumerate(tokens) if _name(t) == name), None)
        tokens = [t for t in tokens if _name(t) != name]
        tokens.insert(len(tokens) if index is None else index, item)
    return " ".join(tokens)


def missing_from(raw: str, present: Sequence[str], absent: Sequence[str]) -> List[str]:
    """Which wanted parameters a command line (e.g. the running one) does not reflect."""
    tokens = _tokens(raw)
    names = {_name(t) for t in tokens}
    gaps = [item for item in present if item not in tokens]
    gaps.extend("-" + name for name in absent if name.partition("=")[0] in names)
    return gaps


def _tokens(raw: str) -> List[str]:
    return [name if value is None else "%s=%s" % (name, value) for name, value in split_params(raw)]


def _name(token: str) -> str:
    return token.partition("=")[0]


def read_grub_default(text: str, path: str) -> Tuple[int, str]:
    """(line index or -1, current value) of ``GRUB_CMDLINE_LINUX`` in /etc/default/grub."""
    found = (-1, "")
    for index, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if not stripped.startswith(GRUB_KEY + "="):
            continue
        value = stripped[len(GRUB_KEY) + 1:]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if any(c in value for c in "$`\\\"'"):
            raise BootParamError(
                "%s line %d: %s uses shell quoting or expansion (%r); edit it by hand or use plain quotes"
                % (path, index + 1, GRUB_KEY, stripped)
            )
        found = (index, value)
    return found


def write_grub_default(text: str, index: int, value: str) -> str:
    lines = text.splitlines()
    line = '%s="%s"' % (GRUB_KEY, value)
    if index < 0:
        lines.append(line)
    else:
        lines[index] = line
    return "\n".join(lines) + "\n"
