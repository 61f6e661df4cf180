# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading single files under a sysroot, with errors that name the file.

Everything the collection knows about a host passes through here, so the
failure modes are decided once: a missing file is ``None`` only where the
caller said it may be missing; anything unreadable, non-text or not a
regular file is a :class:`FactsError` naming the path.
"""

from __future__ import annotations

import errno
import os
from typing import List, Optional

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import (
    parse_hexmask,
    parse_printed,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import (
    CpulistError,
    FactsError,
)

_MISSING = (errno.ENOENT, errno.ENOTDIR)
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def read_bytes(path: str, optional: bool = False, limit: int = 1 << 24) -> Optional[bytes]:
    """Return the file's bytes; ``None`` if it is absent and ``optional``.

    ``os.open``/``os.read`` rather than ``open()``: a 4,096-CPU host means
    ~15,000 small reads, and the buffered-text machinery is most of the cost.
    Reads until end of file (a short read is not taken as the end: a
    ``/proc`` seq_file hands out one page of records per read), but the
    usual one-chunk file costs no list or join.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as err:
        if err.errno in _MISSING and optional:
            return None
        raise FactsError(path, _describe(err), "a readable file") from None
    try:
        data = os.read(fd, 65536)
        if data:
            more = os.read(fd, 65536)
            if more:
                chunks = [data, more]
                size = len(data) + len(more)
                while more:
                    if size > limit:
                        raise FactsError(path, "more than %d bytes" % limit, "a small text file")
                    more = os.read(fd, 65536)
                    chunks.append(more)
                    size += len(more)
                data = b"".join(chunks)
    except OSError as err:
        raise FactsError(path, _describe(err), "a readable regular file") from None
    finally:
        os.close(fd)
    return data


def read_text(path: str, optional: bool = False, limit: int = 1 << 24) -> Optional[str]:
    """Return the file's text (UTF-8); ``None`` if it is absent and ``optional``."""
    data = read_bytes(path, optional, limit)
    return None if data is None else _decode(path, data)


def _decode(path: str, data: bytes) -> str:
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FactsError(path, repr(data[:40]), "UTF-8 text") from None


def read_int(path: str, optional: bool = False, minimum: int = 0) -> Optional[int]:
    """An integer file such as ``core_id``; checked on the bytes, decoded only to report a bad one.

    ``bytes.isdigit`` knows only ASCII digits, which is what the kernel
    prints; a file that is not UTF-8 fails as such, as :func:`read_text` would.
    """
    data = read_bytes(path, optional)
    if data is None:
        return None
    token = data.strip()
    digits = token[1:] if token[:1] == b"-" else token
    if digits.isdigit():
        value = int(token)
        if value >= minimum:
            return value
    raise FactsError(path, _decode(path, data), "an integer >= %d" % minimum)


def read_cpulist(path: str, optional: bool = False) -> Optional[List[int]]:
    text = read_text(path, optional)
    if text is None:
        return None
    return cpulist_of(path, text)


def cpulist_of(path: str, text: str) -> List[int]:
    try:
        return parse_printed(text)
    except CpulistError as err:
        raise FactsError(path, text, err.expected) from None


def read_hexmask(path: str, optional: bool = False, nr_cpus: Optional[int] = None) -> Optional[List[int]]:
    """The kernel prints exactly ceil(nr_cpu_ids / 32) words; any other width is not its mask."""
    text = read_text(path, optional)
    if text is None:
        return None
    if nr_cpus is not None and len(text.strip().split(",")) != (nr_cpus + 31) // 32:
        raise FactsError(path, text, "a hex mask of %d 32-bit word(s) for %d CPU ids" % ((nr_cpus + 31) // 32, nr_cpus))
    try:
        return parse_hexmask(text)
    except CpulistError as err:
        raise FactsError(path, text, err.expected) from None


def list_dir(path: str) -> Optional[List[str]]:
    """Names in a directory, ``None`` when it does not exist."""
    try:
        return os.listdir(path)
    except OSError as err:
        if err.errno in _MISSING:
            return None
        raise FactsError(path, _describe(err), "a readable directory") from None


def _describe(err: OSError) -> str:
    return "<%s>" % (err.strerror or err.__class__.__name__)
