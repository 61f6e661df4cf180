# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors the pure core raises: every one names what was read and what was expected.

Modules turn these into ``fail_json(msg=str(err))``; nothing else should escape
to a user, so callers catch exactly these types.
"""

from __future__ import annotations


class HvfleetError(Exception):
    """Base class for errors that carry a message meant for an operator."""


class CpulistError(HvfleetError, ValueError):
    """A CPU list did not parse. Callers that know the source wrap it with the file."""

    def __init__(self, text, expected):
        self.text = text
        self.expected = expected
        super().__init__("%r: expected %s" % (text, expected))


class FactsError(HvfleetError):
    """A file under the sysroot could not be used; the whole read fails.

    A partial picture of a host is worse than none: the hint engine would
    take what is missing as absent, and absent siblings look like "no SMT".
    """

    def __init__(self, path, value, expected):
        self.path = path
        self.value = value
        self.expected = expected
        super().__init__(
            "%s: read %r, expected %s" % (path, _shorten(value), expected)
        )


class PlanError(HvfleetError, ValueError):
    """Planner input that cannot be planned from: names the field, what it held and what was expected.

    Input mistakes (a typo in a policy, a CPU the host does not have) stop the
    whole plan: a plan built around a guessed value would pin real guests.
    Guests that merely do not fit are not errors; the plan reports them.
    """

    def __init__(self, where, value, expected):
        self.where = where
        self.value = value
        self.expected = expected
        super().__init__("%s: got %r, expected %s" % (where, _shorten(value), expected))


def _shorten(value, limit=120):
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value


class RenderError(HvfleetError):
    """A renderer refused: a statement it was asked to emit is not granted, or the
    input cannot be expressed for the target (version, topology, malformed data).

    ``statement`` and ``reasons`` (tuples of ``(code, message)``) are set for
    refusals, so a caller can report the engine's own reasons; the message
    always names what was asked and why it cannot be given.
    """

    def __init__(self, message, statement=None, reasons=()):
        self.statement = statement
        self.reasons = tuple(reasons)
        super().__init__(message)


class DocumentError(HvfleetError):
    """A statement document (fw_cfg file, SMBIOS OEM string) could not be read.

    A guest treats this exactly like "nothing granted": a document it cannot
    read promises nothing.
    """

    def __init__(self, source, value, expected):
        self.source = source
        self.value = value
        self.expected = expected
        super().__init__(
            "%s: read %r, expected %s" % (source, _shorten(value), expected)
        )
