# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin hvfleet.smt.smt_report_files: write report.json, summary.txt and report.html on the controller.

The report is controller-side output. Written with ``ansible.builtin.copy``
(delegated to localhost) each file cost two module runs (stat, then copy) and
the document was serialised by the templating engine once per file; at 100
hosts that was longer than the whole controller-side pipeline. Here the three
files are rendered with the same functions the smt_report, smt_report_text
and smt_report_html filters use and written directly, only when their bytes or
mode differ. Documentation in plugins/modules/smt_report_files.py.
"""

from __future__ import annotations

import json
import os
import stat

from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.hvfleet.smt.plugins.module_utils.hints import plain_data
from ansible_collections.hvfleet.smt.plugins.module_utils.report import render_text
from ansible_collections.hvfleet.smt.plugins.module_utils.report_html import MAX_PICTURES, render_html
from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_files import file_differs, replace_file

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "report": {"type": "dict", "required": True},
    "html": {"type": "bool", "default": True},
    "html_max_pictures": {"type": "int", "default": MAX_PICTURES},
}
FILE_MODE = 0o644
DIR_MODE = 0o755


def render_files(report, html=True, html_max_pictures=MAX_PICTURES):
    """(name, bytes) of each report file, as the role wrote them with copy and the report filters."""
    files = [
        # compact: pretty-printed, a 2x64x2 host with 24 guests takes 260 kB instead of 75 kB
        ("report.json", json.dumps(report, sort_keys=False) + "\n"),
        ("summary.txt", render_text(report)),
    ]
    if html:
        files.append(("report.html", render_html(report, html_max_pictures)))
    return [(name, to_bytes(text)) for name, text in files]


class ActionModule(ControllerAction):
    arguments = ARGUMENT_SPEC

    def run_on_controller(self, result, args, task_vars):
        dest = args["dest"]
        report = plain_data(args["report"])
        if not isinstance(report, dict) or not isinstance(report.get("hosts"), list) or "summary" not in report:
            result.update(failed=True, msg="smt_report_files: report: expected the output of the hvfleet.smt.smt_report"
                                           " filter (a mapping with hosts and summary)")
            return result
        try:
            files = render_files(report, args["html"], args["html_max_pictures"])
        except (KeyError, TypeError, ValueError) as err:
            result.update(failed=True, msg="smt_report_files: the report is not in the hvfleet.smt.smt_report shape"
                                           " (%s: %s)" % (type(err).__name__, err))
            return result
        check_mode = self._task.check_mode
        written = []
        try:
            if not os.path.isdir(dest) or stat.S_IMODE(os.stat(dest).st_mode) != DIR_MODE:
                written.append(dest + "/")
                if not check_mode:
                    os.makedirs(dest, exist_ok=True)
                    os.chmod(dest, DIR_MODE)
            for name, data in files:
                path = os.path.join(dest, name)
                content_differs, mode_differs = file_differs(path, data, FILE_MODE)
                if not (content_differs or mode_differs):
                    continue
                written.append(name)
                if check_mode:
                    continue
                if content_differs:
                    replace_file(path, data, FILE_MODE)
                else:
                    os.chmod(path, FILE_MODE)
        except OSError as err:
            result.update(failed=True, msg="smt_report_files: cannot write the report under %s: %s" % (dest, err))
            return result
        result.update(changed=bool(written), dest=dest, files=[name for name, _data in files], written=written)
        return result
