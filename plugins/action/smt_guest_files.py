# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin hvfleet.smt.smt_guest_files: write every host's rendered guest settings on the controller.

One task, once, for the whole fleet: the files are report output on the
controller (like report.json), so writing them host by host through a module
run each would cost a process per guest for nothing. Documentation in
plugins/modules/smt_guest_files.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_files import file_differs, replace_file

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "hosts": {"type": "list", "elements": "str", "required": True},
}
SAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def file_name(host, guest):
    """``<host>--<guest>.txt`` with anything that is not safe in a file name replaced."""
    return "%s--%s.txt" % (SAFE.sub("_", host), SAFE.sub("_", guest))


class ActionModule(ControllerAction):
    arguments = ARGUMENT_SPEC

    def run_on_controller(self, result, args, task_vars):
        hostvars = task_vars.get("hostvars") or {}
        dest = args["dest"]
        wanted = {}
        for host in args["hosts"]:
            if host not in hostvars:
                continue
            settings = hostvars[host].get("hvfleet_smt_guest_settings")
            if not isinstance(settings, Mapping):
                continue
            for guest, rendered in settings.items():
                if isinstance(rendered, Mapping) and isinstance(rendered.get("text"), str):
                    wanted[file_name(str(host), str(guest))] = str(rendered["text"])
        changed = []
        try:
            if not self._task.check_mode:
                os.makedirs(dest, exist_ok=True)
            for name in sorted(wanted):
                path = os.path.join(dest, name)
                data = to_bytes(wanted[name])
                if not file_differs(path, data)[0]:
                    continue
                changed.append(name)
                if not self._task.check_mode:
                    replace_file(path, data)
        except OSError as err:
            result.update(failed=True, msg="smt_guest_files: cannot write under %s: %s" % (dest, err))
            return result
        result.update(changed=bool(changed), dest=dest, files=sorted(wanted), written=changed)
        return result
