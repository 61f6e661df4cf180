# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as one self-contained HTML page (inline CSS and SVG, no scripts, no fetches).

Rendered from the report document (``report.build_report``) alone, so the
page says nothing the JSON does not. Deterministic: the same document gives
the same bytes (the document's ``generated_at`` is the only time in it).
Every piece of input text is escaped (``topology_svg.esc``).

The page: the fleet summary (hosts, guests, statements granted and denied by
reason code, drift), an index of hosts, then one section per host with its
topology picture (``topology_svg``), a legend and its guests' statements.
A fleet of thousands of big hosts would make a page of hundreds of MB, so
pictures stop after ``max_pictures`` hosts; drifted hosts get theirs first.
"""

from __future__ import annotations

from typing import Any, Dict, List, Set

from ansible_collections.hvfleet.smt.plugins.module_utils.report import STATEMENTS
from ansible_collections.hvfleet.smt.plugins.module_utils.topology_svg import (
    OWNER_LABELS,
    crowded,
    esc,
    guest_colours,
    host_guests,
    legend_swatch,
    owners_present,
    render_host_svg,
)

MAX_PICTURES = 200

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;font-size:14px;color:#212529;margin:0 24px 40px;
background:#fff}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:2px solid #dee2e6;
padding-bottom:3px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#495057;margin:2px 0}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.figure{border:1px solid #dee2e6;border-radius:6px;padding:6px 12px;min-width:110px;background:#f8f9fa}
.figure b{display:block;font-size:22px}.figure.bad{border-color:#d6336c;background:#fff0f6}
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid #dee2e6;padding:3px 7px;text-align:left;
vertical-align:top}th{background:#f1f3f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.tables{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.yes{color:#2b8a3e;font-weight:bold}.no{color:#c92a2a;font-weight:bold}.code{font-family:monospace;font-size:12px}
.err{color:#c92a2a;font-weight:bold}.drift{color:#c92a2a}
.picture{overflow-x:auto;margin:8px 0}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 10px;max-width:1180px}
.legend span{display:inline-flex;align-items:center;gap:5px;white-space:nowrap}
.swatch{vertical-align:middle}
"""


def render_html(report: Dict[str, Any], max_pictures: int = MAX_PICTURES) -> str:
    """The whole page for a report document."""
    hosts = report["hosts"]
    pictured = _pictured(hosts, max_pictures)
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>hvfleet.smt report %s</title>\n<style>%s</style>\n</head>\n<body>\n"
        % (esc(report["generated_at"]), CSS),
        "<h1>hvfleet.smt fleet report</h1>\n<p class=\"meta\">generated %s &middot; schema %s &middot; "
        "the same data as report.json</p>\n" % (esc(report["generated_at"]), esc(report["schema"])),
        _summary(report["summary"]),
        _host_index(hosts),
    ]
    omitted = sum(1 for h in hosts if h.get("topology")) - len(pictured)
    for index, host in enumerate(hosts):
        parts.append(_host_section(host, index, index in pictured))
    if omitted:
        parts.append("<p class=\"meta\">Hosts without a picture: %d (pictures are drawn for %d hosts, those with "
                     "drift first; raise smt_report_html_max_pictures to draw more).</p>\n" % (omitted, max_pictures))
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _pictured(hosts: List[Dict[str, Any]], limit: int) -> Set[int]:
    """Indexes of the hosts that get a picture: drifted ones first, then in name order.

    Hosts without facts have nothing to draw and take no place.
    """
    drawable = [i for i, h in enumerate(hosts) if h.get("topology")]
    order = sorted(drawable, key=lambda i: (not _drifted(hosts[i]), i))
    return set(order[:max(0, limit)])


def _drifted(host: Dict[str, Any]) -> bool:
    return any(g.get("drift") for g in host.get("guests") or [])


def _figure(label: str, value: Any, bad: bool = False) -> str:
    return '<div class="figure%s"><b>%s</b>%s</div>' % (" bad" if bad else "", esc(value), esc(label))


def _summary(s: Dict[str, Any]) -> str:
    figures = [
        _figure("hosts", s["hosts"]),
        _figure("hosts without facts", s["hosts_failed"], s["hosts_failed"] > 0),
        _figure("hosts where SMT can be on", s["hosts_smt_possible"]),
        _figure("guests", s["guests"]),
    ]
    if s.get("hosts_audited"):
        figures += [
            _figure("hosts audited", s["hosts_audited"]),
            _figure("statements no longer holding", s["drift"], s["drift"] > 0),
            _figure("guests with drift", s["guests_drifted"], s["guests_drifted"] > 0),
            _figure("unverifiable", s["unverifiable"], s["unverifiable"] > 0),
        ]
    out = ['<h2 id="fleet">Fleet</h2>\n<div class="figures">%s</div>\n<div class="tables">\n' % "".join(figures)]
    # Statements: granted and denied, with the codes of the denials.
    rows = []
    denied = s.get("denied") or {}
    by_statement = s.get("denied_by_statement") or {}
    for key in STATEMENTS:
        codes = ", ".join('<span class="code">%s</span>&nbsp;&times;%d' % (esc(code), n)
                          for code, n in sorted((by_statement.get(key) or {}).items(), key=lambda kv: (-kv[1], kv[0])))
        rows.append('<tr><td class="code">%s</td><td class="n">%d</td><td class="n">%d</td><td>%s</td></tr>'
                    % (esc(key), s["granted"].get(key, 0), denied.get(key, 0), codes))
    out.append('<div><h3>Statements</h3><table><tr><th>statement</th><th>granted</th><th>denied</th>'
               '<th>denied because</th></tr>%s</table></div>\n' % "".join(rows))
    # Every reason code of a denial, across statements.
    rows = ['<tr><td class="code">%s</td><td class="n">%d</td></tr>' % (esc(code), n)
            for code, n in sorted(s["denied_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))]
    out.append('<div><h3>Denials by reason code</h3><table><tr><th>reason code</th><th>denials</th></tr>%s</table>'
               '</div>\n' % ("".join(rows) or '<tr><td colspan="2">none</td></tr>'))
    if s.get("hosts_audited"):
        rows = ['<tr><td class="code">%s</td><td class="n">%d</td></tr>' % (esc(kind), n)
                for kind, n in sorted(s["drift_by_kind"].items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append('<div><h3>Drift by kind</h3><table><tr><th>kind</th><th>statements</th></tr>%s</table></div>\n'
                   % ("".join(rows) or '<tr><td colspan="2">no drift</td></tr>'))
    rows = ['<tr><td class="code">%s</td><td class="n">%d</td></tr>' % (esc(control), n)
            for control, n in s["smt_control"].items()]
    out.append('<div><h3>SMT control</h3><table><tr><th>smt/control</th><th>hosts</th></tr>%s</table></div>\n'
               % "".join(rows))
    out.append("</div>\n")
    return "".join(out)


def _host_index(hosts: List[Dict[str, Any]]) -> str:
    rows = []
    for index, host in enumerate(hosts):
        link = '<a href="#host-%d">%s</a>' % (index, esc(host["name"]))
        if host.get("error"):
            rows.append('<tr><td>%s</td><td colspan="8" class="err">%s</td></tr>' % (link, esc(host["error"])))
            continue
        granted = " ".join(
            "%d/%d" % (sum(1 for g in host["guests"] if g["statements"][key]["granted"]), len(host["guests"]))
            for key in STATEMENTS)
        drift = sum(len(g.get("drift") or []) for g in host["guests"])
        audit = host.get("audit")
        rows.append(
            '<tr><td>%s</td><td class="code">%s</td><td>%s</td><td class="n">%d</td><td class="n">%d</td>'
            '<td class="n">%d</td><td class="n">%d</td><td class="code">%s</td><td class="n%s">%s</td></tr>'
            % (link, esc(host["smt_control"]), "yes" if host["smt_possible"] else "no", host["cpus_online"],
               len(host["cpus_offline"]), host["cores"], len(host["guests"]), esc(granted),
               " drift" if drift else "", "-" if audit is None else drift))
    return ('<h2 id="hosts">Hosts</h2>\n<table><tr><th>host</th><th>smt/control</th><th>SMT possible</th>'
            '<th>CPUs online</th><th>offline</th><th>cores</th><th>guests</th>'
            '<th title="guests granted / guests, per statement">granted: %s</th><th>drift</th></tr>\n%s\n</table>\n'
            % (" &middot; ".join(esc(k) for k in STATEMENTS), "\n".join(rows)))


def _host_section(host: Dict[str, Any], index: int, picture: bool) -> str:
    out = ['<section id="host-%d">\n<h2>%s</h2>\n' % (index, esc(host["name"]))]
    if host.get("error"):
        out.append('<p class="err">no facts: %s</p>\n</section>\n' % esc(host["error"]))
        return "".join(out)
    tpc = host["threads_per_core"]
    threads = str(tpc["min"]) if tpc["min"] == tpc["max"] else "%s-%s" % (tpc["min"], tpc["max"])
    facts = [
        "smt/control <b>%s</b>" % esc(host["smt_control"]),
        "SMT %s" % ("can be on" if host["smt_possible"] else "cannot come back"),
        "%d packages, %d cores, %s threads per core, %d CPUs online" % (
            host["packages"], host["cores"], esc(threads), host["cpus_online"]),
    ]
    if host["cpus_offline"]:
        facts.append("%d offline" % len(host["cpus_offline"]))
    if host.get("nested"):
        facts.append("nested (this host is a VM)")
    if host.get("cmdline_nosmt"):
        facts.append("boot nosmt=%s" % esc(host["cmdline_nosmt"]))
    if host.get("vulnerable_with_smt"):
        facts.append("SMT-vulnerable: %s" % esc(", ".join(host["vulnerable_with_smt"])))
    out.append('<p class="meta">%s</p>\n' % " &middot; ".join(facts))
    out.append('<p class="meta">facts collected %s%s</p>\n' % (
        esc(host.get("collected_at")),
        "" if host.get("housekeeping") is not None else " &middot; no housekeeping set known"))
    audit = host.get("audit")
    if audit is not None:
        drift = sum(len(g.get("drift") or []) for g in host["guests"])
        out.append('<p class="meta%s">audited %s: %d statements no longer hold, %d guests unverifiable%s</p>\n' % (
            " drift" if drift or audit.get("error") else "", esc(audit["audited_at"]), drift, audit["unverifiable"],
            " &middot; audit failed: %s" % esc(audit["error"]) if audit.get("error") else ""))
    colours = guest_colours(host_guests(host))
    if picture and host.get("topology"):
        out.append('<div class="picture">%s</div>\n' % render_host_svg(host, colours, "h%d" % index))
        out.append(_legend(host, colours, index))
    elif host.get("topology"):
        out.append('<p class="meta">(no picture: see the note at the end of the page)</p>\n')
    out.append(_guest_table(host, colours))
    out.append("</section>\n")
    return "".join(out)


def _legend(host: Dict[str, Any], colours: Dict[str, str], index: int) -> str:
    drifted = {g["name"] for g in host["guests"] if g.get("drift")}
    items = ['<span>%s%s%s</span>' % (legend_swatch("guest", colours[name]), esc(name),
                                      ' <b class="drift">(drift)</b>' if name in drifted else "")
             for name in sorted(colours)]
    for owner in owners_present(host):
        items.append('<span>%s%s</span>' % (legend_swatch(owner, id_prefix="lg%d-%s" % (index, owner)),
                                            esc(OWNER_LABELS[owner])))
    threads = [t for p in host["topology"]["packages"] for c in p["cores"] for t in c["threads"]]
    if any(crowded(t) for t in threads):
        items.append('<span>%shatched: something else may run beside this vCPU</span>'
                     % legend_swatch("also", id_prefix="lg%d-also" % index))
    if any(t["isolated"] for t in threads):
        items.append('<span>%sisolated (isolcpus)</span>' % legend_swatch("isolated"))
    if any(c["split"] for p in host["topology"]["packages"] for c in p["cores"]):
        items.append('<span>%ssplit core: a vCPU shares its core with something else</span>'
                     % legend_swatch("split"))
    return '<div class="legend">%s</div>\n' % "".join(items)


def _guest_table(host: Dict[str, Any], colours: Dict[str, str]) -> str:
    if not host["guests"]:
        return '<p class="meta">no guests</p>\n'
    rows = []
    for guest in host["guests"]:
        cells = []
        for key in STATEMENTS:
            st = guest["statements"][key]
            if st["granted"]:
                cells.append('<td><span class="yes">yes</span></td>')
            else:
                codes = sorted({r.get("code", "?") for r in st["reasons"]})
                cells.append('<td><span class="no">no</span> <span class="code">%s</span></td>'
                             % esc(", ".join(codes)))
        drift = "<br>".join(
            '<span class="drift">%s: %s &rarr; %s</span> <span class="code">(%s)</span>'
            % (esc(d["statement"]), _granted(d["was"]), _granted(d["now"]), esc(d["kind"]))
            for d in guest.get("drift") or [])
        audit = guest.get("audit") or {}
        if audit.get("error"):
            drift = (drift + "<br>" if drift else "") + '<span class="err">%s</span>' % esc(audit["error"])
        elif guest.get("audit") is not None and not audit.get("recorded"):
            drift = drift or "no record of what it was given"
        topology = guest.get("topology") or {}
        shape = "x".join(str(topology.get(k, "?")) for k in ("sockets", "cores", "threads")) if topology else ""
        rows.append(
            '<tr><td>%s</td><td>%s</td><td class="n">%s</td><td class="code">%s</td><td class="code">%s</td>%s'
            '<td>%s</td></tr>'
            % (legend_swatch("guest", colours[guest["name"]]) if guest["name"] in colours else "",
               esc(guest["name"]), esc(guest.get("vcpus", "")), esc(" ".join(guest.get("pins") or [])),
               esc(shape), "".join(cells), drift))
    return ('<table><tr><th></th><th>guest</th><th>vCPUs</th><th>pins (per vCPU)</th>'
            '<th title="sockets x cores x threads">shown as</th>%s<th>drift</th></tr>\n%s\n</table>\n'
            % ("".join("<th>%s</th>" % esc(k) for k in STATEMENTS), "\n".join(rows)))


def _granted(value: Any) -> str:
    return {True: "granted", False: "denied"}.get(value, "unknown")
