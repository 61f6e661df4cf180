# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the controller-side actions write (the fleet report, per-guest settings): only when they differ.

Written whole through a temporary file and a rename, so a reader (a browser
on report.html, an operator tailing a guest file) never sees half of one, and
compared first, so a second run changes nothing and reports no change.
"""

from __future__ import annotations

import os
import stat
import tempfile

#: Mode of a file written new when the caller does not manage modes (what ``open()`` gives under umask 022).
NEW_FILE_MODE = 0o644


def file_differs(path, data, mode=None):
    """(content differs, mode differs) for an existing or missing file; ``mode`` None: modes are not managed."""
    try:
        with open(path, "rb") as handle:
            same = handle.read() == data
        current = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return True, mode is not None
    return not same, mode is not None and current != mode


def replace_file(path, data, mode=None):
    """Replace the file in one step; ``mode`` None keeps an existing file's mode (NEW_FILE_MODE for a new one)."""
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = NEW_FILE_MODE
    directory = os.path.dirname(path)
    handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
