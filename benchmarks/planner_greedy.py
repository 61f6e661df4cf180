# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Nova-style greedy packer for ``require`` guests: the baseline the planner must not lose to.

Modelled on nova/virt/hardware.py (``numa_fit_instance_to_host`` and
``_pack_instance_onto_cores``) for one-cell guests with
``hw:cpu_thread_policy=require``: guests in arrival order; host NUMA cells
in id order, the first cell that fits wins; inside a cell, sibling sets
whose threads are all free, larger sets first, the first ones in core order.
No look-ahead, no reordering, nothing ever moved.
"""


def greedy_count(cells, batch):
    """How many guests of ``batch`` (arrival order) first-fit places into ``cells``.

    ``cells``: per NUMA node, the free sibling sets in core order (lists of
    thread tuples); consumed sets are removed from a copy.
    """
    cells = [list(cell) for cell in cells]
    placed = 0
    for guest in batch:
        if _place(cells, guest["vcpus"]):
            placed += 1
    return placed


def _place(cells, vcpus):
    for cell in cells:
        for threads_no in sorted({len(s) for s in cell}, reverse=True):
            if vcpus % threads_no:
                continue
            fitting = [s for s in cell if len(s) == threads_no]
            needed = vcpus // threads_no
            if len(fitting) >= needed:
                for taken in fitting[:needed]:
                    cell.remove(taken)
                return True
    return False
