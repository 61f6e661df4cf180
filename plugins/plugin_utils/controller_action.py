# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The common frame of this collection's action plugins: controller-only, check mode, an argument spec.

Every action here works on the controller (decisions across hostvars, files
written where the playbook runs), never on the managed host: it needs no
connection and transfers nothing. So the frame is declared once, and each
action only says what it does with its validated arguments.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    """Subclasses set ``arguments`` (an argument spec) and implement ``run_on_controller``."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    arguments: dict = {}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=self.arguments)[1]
        return self.run_on_controller(result, args, task_vars or {})

    def run_on_controller(self, result, args, task_vars):
        raise NotImplementedError
