# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The most ``require`` guests that can fit at all: exhaustive search, for hosts of up to 16 cores.

Written apart from the planner (it shares no code with placement.py): every
guest is either left out or put on whole free cores of one NUMA node and
one thread count that divides its vCPUs; every combination is tried
(memoised on what is left, which changes the speed and not the answer).
"""

from functools import lru_cache


def most_placed(free, batch):
    """Maximum number of guests of ``batch`` that fit ``free`` = {(node, threads): whole free cores}."""
    keys = sorted(free)
    sizes = [guest["vcpus"] for guest in batch]

    @lru_cache(maxsize=None)
    def best(i, left):
        if i == len(sizes):
            return 0
        result = best(i + 1, left)
        for position, (node, threads) in enumerate(keys):
            if sizes[i] % threads:
                continue
            need = sizes[i] // threads
            if left[position] >= need:
                rest = left[:position] + (left[position] - need,) + left[position + 1:]
                result = max(result, 1 + best(i + 1, rest))
        return result

    return best(0, tuple(free[k] for k in keys))


def count_upper_bound(free, batch):
    """No packer places more guests than the smallest requests that fit in all free cores pooled.

    For hosts too big for ``most_placed``: it shows how far from perfect a
    count can at most be.
    """
    total = sum(free.values())
    classes = sorted({threads for _core, threads in free})
    needs = sorted(min((g["vcpus"] // t for t in classes if g["vcpus"] % t == 0), default=total + 1) for g in batch)
    count = 0
    for need in needs:
        if need > total:
            break
        total -= need
        count += 1
    return count
