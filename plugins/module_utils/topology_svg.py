# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's CPUs as an inline SVG picture: packages -> cores -> threads, coloured by owner.

Pure string building from a report host entry (``report.host_topology``):
no Ansible, no files, no randomness. The same entry always gives the same
bytes, and every piece of input text (host and guest names above all) goes
through ``esc`` because names are operator input.

Layout: one band per package; in it, cores in rows (as many per row as fit
``MAX_WIDTH``), each core a box holding its threads side by side, each thread
a cell showing its CPU number. The cell's fill says who owns the thread; a
hatch says something else may run there too; a corner flag marks isolated
CPUs; a red dashed box marks a split core (a vCPU beside anything else).
Offline CPUs have no core in sysfs, so they get a row of their own.
"""

from __future__ import annotations

import colorsys
import html
import re
from typing import Any, Dict, List, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.report import thread_users

# Fixed colours of the non-guest owners. Guests get saturated colours from
# GUEST_PALETTE; none of these is among them.
OWNER_COLOURS = {
    "housekeeping": "#5c6773",
    "idle": "#ffffff",
    "unknown": "#dee2e6",
    "offline": "#212529",
    "shared": "#ffffff",  # drawn with red stripes (the "shared" pattern)
}
OWNER_LABELS = {
    "housekeeping": "housekeeping (host tasks)",
    "idle": "idle (nothing may run here)",
    "unknown": "unknown (no placement facts)",
    "offline": "offline (core unknown)",
    "shared": "vCPUs of several guests",
}
SPLIT_COLOUR = "#d6336c"
SHARED_STRIPE = "#c92a2a"
# Tableau 20 without its two greys, then six of Kelly's colours of maximum
# contrast that none of those resembles; ordered so that neighbours in the
# list (guests met one after the other in the picture) differ in hue and
# lightness. More guests than this get golden-angle hues.
GUEST_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#17becf", "#e377c2", "#bcbd22", "#8c564b",
    "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#9edae5", "#f7b6d2", "#dbdb8d", "#c49c94",
    "#d62728", "#ff9896", "#f3c300", "#604e97", "#008856", "#654522", "#b3446c", "#2b3d26",
)

CELL_W = 28
CELL_H = 22
THREAD_GAP = 2
CORE_PAD = 3
CORE_GAP = 6
ROW_GAP = 6
PKG_PAD = 10
PKG_HEAD = 22
PKG_GAP = 14
MAX_WIDTH = 1180
MIN_WIDTH = 420
FONT = "font-family=\"DejaVu Sans Mono,Menlo,Consolas,monospace\""

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def esc(text: Any) -> str:
    """Text safe inside HTML/SVG text and double-quoted attributes.

    Control characters are not allowed in XML at all; they become U+FFFD
    rather than vanishing, so a name that had one still looks odd.
    """
    return html.escape(_CONTROL.sub("\ufffd", str(text)), quote=True)


def guest_colours(names: Sequence[str]) -> Dict[str, str]:
    """A colour per guest, by position in ``names`` (see ``host_guests`` for the order).

    Consecutive palette entries differ most, so guests that sit next to each
    other in the picture should come next to each other in ``names``.
    """
    colours: Dict[str, str] = {}
    for index, name in enumerate(dict.fromkeys(names)):
        if index < len(GUEST_PALETTE):
            colours[name] = GUEST_PALETTE[index]
        else:
            extra = index - len(GUEST_PALETTE)
            hue = (extra * 137.508 + 20.0) % 360.0 / 360.0
            light = (0.42, 0.62, 0.52)[extra % 3]
            red, green, blue = colorsys.hls_to_rgb(hue, light, 0.65)
            colours[name] = "#%02x%02x%02x" % (round(red * 255), round(green * 255), round(blue * 255))
    return colours


def text_colour(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (WCAG relative luminance)."""
    red, green, blue = (int(fill[i:i + 2], 16) / 255.0 for i in (1, 3, 5))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * lin(red) + 0.7152 * lin(green) + 0.0722 * lin(blue)
    return "#000000" if luminance > 0.179 else "#ffffff"


def host_guests(host: Dict[str, Any]) -> List[str]:
    """Every guest of the host, in the order the picture meets them (lowest CPU first).

    Neighbours in the picture thus get neighbouring (i.e. most different)
    palette colours; guests without a thread come last, by name.
    """
    seen: Dict[str, int] = {}
    threads = [t for p in (host.get("topology") or {}).get("packages", []) for c in p["cores"] for t in c["threads"]]
    for thread in sorted(threads, key=lambda t: t["cpu"]):
        for name in [v["guest"] for v in thread["vcpus"]] + list(thread["helpers"]):
            seen.setdefault(name, len(seen))
    rest = sorted({g["name"] for g in host.get("guests") or []} - set(seen))
    return sorted(seen, key=seen.__getitem__) + rest


def owners_present(host: Dict[str, Any]) -> List[str]:
    """The non-guest owners that occur in the picture, in OWNER_LABELS order (for the legend)."""
    topology = host.get("topology") or {}
    seen = set()
    for package in topology.get("packages", []):
        for core in package["cores"]:
            seen.update(t["owner"] for t in core["threads"])
    if topology.get("offline"):
        seen.add("offline")
    return [owner for owner in OWNER_LABELS if owner in seen]


def _layout(topology: Dict[str, Any]) -> Tuple[int, int]:
    """(threads per core box, cores per row) for the widest core and the width limit."""
    width = max([len(c["threads"]) for p in topology["packages"] for c in p["cores"]] + [1])
    core_w = width * CELL_W + (width - 1) * THREAD_GAP + 2 * CORE_PAD
    most = max([len(p["cores"]) for p in topology["packages"]] + [1])
    per_row = max(1, min(most, (MAX_WIDTH - 2 * PKG_PAD + CORE_GAP) // (core_w + CORE_GAP)))
    # Even rows: 64 cores at 15 a row would leave 4 on the last; 16 a row is tidier.
    rows = -(-most // per_row)
    per_row = -(-most // rows)
    return width, per_row


def render_host_svg(host: Dict[str, Any], colours: Dict[str, str], id_prefix: str) -> str:
    """The picture of one host entry of the report. ``id_prefix`` keeps pattern ids unique per page."""
    topology = host.get("topology") or {"packages": [], "offline": []}
    width, per_row = _layout(topology)
    core_w = width * CELL_W + (width - 1) * THREAD_GAP + 2 * CORE_PAD
    core_h = CELL_H + 2 * CORE_PAD
    inner_w = per_row * core_w + (per_row - 1) * CORE_GAP
    # Wide enough for the package and offline headings however few the cores.
    svg_w = max(inner_w + 2 * PKG_PAD, MIN_WIDTH)
    body: List[str] = []
    y = 0
    for package in topology["packages"]:
        cores = package["cores"]
        rows = max(1, -(-len(cores) // per_row))
        pkg_h = PKG_HEAD + rows * core_h + (rows - 1) * ROW_GAP + PKG_PAD
        threads = sum(len(c["threads"]) for c in cores)
        body.append('<rect x="0.5" y="%d.5" width="%d" height="%d" rx="6" fill="#f8f9fa" stroke="#adb5bd"/>'
                    % (y, svg_w - 1, pkg_h - 1))
        body.append('<text x="%d" y="%d" font-size="13" font-weight="bold" fill="#212529">package %s'
                    '<tspan font-weight="normal" fill="#495057">  %d cores, %d threads</tspan></text>'
                    % (PKG_PAD, y + 16, esc(package["id"]), len(cores), threads))
        for n, core in enumerate(cores):
            cx = PKG_PAD + (n % per_row) * (core_w + CORE_GAP)
            cy = y + PKG_HEAD + (n // per_row) * (core_h + ROW_GAP)
            body.append(_core(core, package["id"], cx, cy, core_w, core_h, colours, id_prefix))
        y += pkg_h + PKG_GAP
    offline = topology.get("offline") or []
    if offline:
        per_line = max(1, (svg_w - 2 * PKG_PAD + THREAD_GAP) // (CELL_W + THREAD_GAP))
        lines = -(-len(offline) // per_line)
        box_h = PKG_HEAD + lines * (CELL_H + THREAD_GAP) + PKG_PAD
        body.append('<rect x="0.5" y="%d.5" width="%d" height="%d" rx="6" fill="#f8f9fa" stroke="#adb5bd"/>'
                    % (y, svg_w - 1, box_h - 1))
        body.append('<text x="%d" y="%d" font-size="13" font-weight="bold" fill="#212529">offline CPUs'
                    '<tspan font-weight="normal" fill="#495057">  %d, core unknown while offline'
                    '</tspan></text>' % (PKG_PAD, y + 16, len(offline)))
        for n, cpu in enumerate(offline):
            tx = PKG_PAD + (n % per_line) * (CELL_W + THREAD_GAP)
            ty = y + PKG_HEAD + (n // per_line) * (CELL_H + THREAD_GAP)
            body.append(_cell(tx, ty, OWNER_COLOURS["offline"], cpu, "CPU %d: offline" % cpu))
        y += box_h + PKG_GAP
    svg_h = max(y - PKG_GAP, 1)
    defs = (
        '<defs>'
        '<pattern id="%s-shared" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#ffffff"/><rect width="3" height="6" fill="%s"/></pattern>'
        '<pattern id="%s-also" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">'
        '<rect width="1.6" height="5" fill="#000000" fill-opacity="0.55"/></pattern>'
        '<pattern id="%s-also-light" width="5" height="5" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(-45)"><rect width="1.6" height="5" fill="#ffffff" fill-opacity="0.7"/></pattern>'
        '</defs>' % (id_prefix, SHARED_STRIPE, id_prefix, id_prefix)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" class="topology" role="img" width="%d" height="%d" '
        'viewBox="0 0 %d %d" %s font-size="11"><title>CPU topology of %s</title>%s%s</svg>'
        % (svg_w, svg_h, svg_w, svg_h, FONT, esc(host["name"]), defs, "".join(body))
    )


def _core(core: Dict[str, Any], package: Any, x: int, y: int, w: int, h: int,
          colours: Dict[str, str], id_prefix: str) -> str:
    cpus = ",".join(str(t["cpu"]) for t in core["threads"])
    title = "core %s of package %s (core_id %s, die %s): CPUs %s" % (
        core["index"], package, core.get("core"), core.get("die"), cpus)
    if core["split"]:
        title += " - SPLIT: a vCPU shares this core with something else"
        box = ('<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="#ffffff" stroke="%s" '
               'stroke-width="2.5" stroke-dasharray="4 2"/>' % (x, y, w, h, SPLIT_COLOUR))
    else:
        box = '<rect x="%d.5" y="%d.5" width="%d" height="%d" rx="3" fill="#ffffff" stroke="#868e96"/>' % (
            x, y, w - 1, h - 1)
    cells = []
    for n, thread in enumerate(core["threads"]):
        tx = x + CORE_PAD + n * (CELL_W + THREAD_GAP)
        cells.append(_thread(thread, tx, y + CORE_PAD, colours, id_prefix))
    return '<g class="core"><title>%s</title>%s%s</g>' % (esc(title), box, "".join(cells))


def _thread(thread: Dict[str, Any], x: int, y: int, colours: Dict[str, str], id_prefix: str) -> str:
    owner = thread["owner"]
    if owner == "guest":
        fill = colours.get(thread["guest"], "#000000")
    else:
        fill = OWNER_COLOURS[owner]
    parts = []
    for vcpu in thread["vcpus"]:
        parts.append("%s vCPU %d" % (vcpu["guest"], vcpu["vcpu"]))
    parts.extend("%s emulator/iothreads" % g for g in thread["helpers"])
    if thread["housekeeping"]:
        parts.append("host tasks (housekeeping)")
    title = "CPU %d: %s" % (thread["cpu"], "; ".join(parts) if parts else {
        "idle": "idle", "unknown": "unknown (no placement facts)"}.get(owner, owner))
    if thread["isolated"]:
        title += "; isolated (isolcpus)"
    extra = []
    if owner == "shared":
        extra.append('<rect x="%d" y="%d" width="%d" height="%d" fill="url(#%s-shared)"/>'
                     % (x, y, CELL_W, CELL_H, id_prefix))
    elif crowded(thread):
        # Dark stripes on light colours, light stripes on dark ones.
        extra.append('<rect x="%d" y="%d" width="%d" height="%d" fill="url(#%s-also%s)"/>'
                     % (x, y, CELL_W, CELL_H, id_prefix, "" if text_colour(fill) == "#000000" else "-light"))
    if thread["isolated"]:
        extra.append('<path d="M%d %dh-7l7 7z" fill="#000000" stroke="#ffffff" stroke-width="0.6"/>'
                     % (x + CELL_W, y))
    return _cell(x, y, fill, thread["cpu"], title, "".join(extra),
                 plate=owner == "shared" or crowded(thread))


def crowded(thread: Dict[str, Any]) -> bool:
    """A vCPU's thread on which something else may run too (drawn hatched).

    Host tasks and emulators sharing housekeeping threads are normal and not
    marked; anything beside a vCPU is what the statements are about.
    """
    return bool(thread["vcpus"]) and len(thread_users(thread)) > 1


def _cell(x: int, y: int, fill: str, cpu: int, title: str, extra: str = "", plate: bool = False) -> str:
    stroke = "#adb5bd" if fill == "#ffffff" else fill
    label_fill = text_colour(fill)
    label = '<text x="%d" y="%d" text-anchor="middle" fill="%s">%d</text>' % (
        x + CELL_W // 2, y + CELL_H // 2 + 4, label_fill, cpu)
    if plate:
        # The number on a small plate of the cell's own colour, so a hatch never hides it.
        width = 7 * len(str(cpu)) + 4
        label = '<rect x="%d" y="%d" width="%d" height="12" rx="2" fill="%s"/>' % (
            x + (CELL_W - width) // 2, y + CELL_H // 2 - 6, width, fill) + label
    return '<g><title>%s</title><rect x="%d.5" y="%d.5" width="%d" height="%d" fill="%s" stroke="%s"/>%s%s</g>' % (
        esc(title), x, y, CELL_W - 1, CELL_H - 1, fill, stroke, extra, label)


def legend_swatch(kind: str, colour: str = "", id_prefix: str = "legend") -> str:
    """A small inline SVG swatch for the HTML legend: a guest colour, an owner, or a mark."""
    w, h = 22, 14
    inner = ""
    defs = ""
    if kind == "guest":
        inner = '<rect x="0.5" y="0.5" width="%d" height="%d" fill="%s" stroke="%s"/>' % (w - 1, h - 1, colour, colour)
    elif kind == "shared":
        defs = ('<defs><pattern id="%s" width="6" height="6" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
                '<rect width="3" height="6" fill="%s"/></pattern></defs>' % (id_prefix, SHARED_STRIPE))
        inner = '<rect x="0.5" y="0.5" width="%d" height="%d" fill="url(#%s)" stroke="#adb5bd"/>' % (
            w - 1, h - 1, id_prefix)
    elif kind == "also":
        defs = ('<defs><pattern id="%s" width="5" height="5" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate(-45)"><rect width="1.6" height="5" fill="#000000" fill-opacity="0.55"/>'
                '</pattern></defs>' % id_prefix)
        inner = ('<rect x="0.5" y="0.5" width="%d" height="%d" fill="%s" stroke="%s"/>'
                 '<rect x="0" y="0" width="%d" height="%d" fill="url(#%s)"/>'
                 % (w - 1, h - 1, GUEST_PALETTE[0], GUEST_PALETTE[0], w, h, id_prefix))
    elif kind == "isolated":
        inner = ('<rect x="0.5" y="0.5" width="%d" height="%d" fill="#ffffff" stroke="#adb5bd"/>'
                 '<path d="M%d 0h-7l7 7z" fill="#000000"/>' % (w - 1, h - 1, w))
    elif kind == "split":
        inner = ('<rect x="1.5" y="1.5" width="%d" height="%d" rx="2" fill="#ffffff" stroke="%s" '
                 'stroke-width="2.5" stroke-dasharray="4 2"/>' % (w - 3, h - 3, SPLIT_COLOUR))
    else:
        fill = OWNER_COLOURS[kind]
        stroke = "#adb5bd" if fill == "#ffffff" else fill
        inner = '<rect x="0.5" y="0.5" width="%d" height="%d" fill="%s" stroke="%s"/>' % (w - 1, h - 1, fill, stroke)
    return ('<svg xmlns="http://www.w3.org/2000/svg" class="swatch" width="%d" height="%d" '
            'viewBox="0 0 %d %d" aria-hidden="true">%s%s</svg>' % (w, h, w, h, defs, inner))
