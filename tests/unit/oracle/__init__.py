# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only: a brute-force oracle for the hint engine, its case generator and fact builders.

Nothing here imports from plugins/: the point is a second, independent reading
of docs/statements.md.
"""
