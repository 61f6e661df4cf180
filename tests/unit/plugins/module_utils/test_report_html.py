# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report and its topology pictures: structure, escaping, colours per owner, a 2x64x2 host."""

import copy
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import report_samples  # noqa: E402  pylint: disable=wrong-import-position

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.filter.report import smt_report_html  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.report_html import render_html  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.topology_svg import (  # noqa: E402
    GUEST_PALETTE,
    MAX_WIDTH,
    OWNER_COLOURS,
    esc,
    guest_colours,
    host_guests,
    render_host_svg,
    text_colour,
)

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def report():
    return report_samples.sample_report()


@pytest.fixture(scope="module")
def page(report):
    return render_html(report)


def host(report, name):
    return next(h for h in report["hosts"] if h["name"] == name)


class Collector(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page):
    collector = Collector()
    collector.feed(page)
    collector.close()
    return collector


def cells(svg_text):
    """CPU number -> (fill, title) of every thread cell of one picture, parsed as XML."""
    root = ET.fromstring(svg_text)
    out = {}
    for group in root.iter(SVG + "g"):
        title = group.find(SVG + "title")
        if title is None or not re.match(r"CPU \d+: ", title.text or ""):
            continue
        cpu = int(title.text.split(":")[0][4:])
        out[cpu] = (group.find(SVG + "rect").get("fill"), title.text)
    return out


def svgs(page):
    return re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="topology".*?</svg>', page, re.S)


def test_page_structure(page, report):
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert page.endswith("</html>\n")
    ids = [attrs["id"] for tag, attrs in parsed.tags if "id" in attrs]
    assert ids[:2] == ["fleet", "hosts"]
    assert ["host-%d" % i for i in range(len(report["hosts"]))] == [i for i in ids if i.startswith("host-")]
    assert len(ids) == len(set(ids))
    # Every host is linked from the index, and every link stays in the page.
    hrefs = [a["href"] for t, a in parsed.tags if t == "a"]
    assert hrefs == ["#host-%d" % i for i in range(len(report["hosts"]))]
    # Pictures for the two hosts with facts; the others say why they have none.
    assert len(svgs(page)) == 2
    assert "no facts: sysroot /nonexistent: no such directory" in "".join(parsed.text)


def test_self_contained_no_scripts_no_fetches(page):
    tags = parse(page).tags
    assert not [tag for tag, attrs in tags if tag in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [attrs for tag, attrs in tags if any(k.startswith("on") or k in ("src", "srcset") for k in attrs)]
    # The only URL is the SVG namespace.
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "url(#" in page and "@import" not in page


def test_names_are_escaped(page):
    assert "<script" not in page and "<b>evil" not in page
    assert esc(report_samples.EVIL) in page
    assert "hv-&lt;b&gt;evil&lt;/b&gt;" in page and "facts &lt;failed&gt; &amp; &#x27;quoted&#x27;" in page
    text = "".join(parse(page).text)
    assert report_samples.EVIL in text and "hv-<b>evil</b>" in text


def test_escaping_of_attributes_and_control_characters():
    assert esc('a"b\'c<d>&\x07') == "a&quot;b&#x27;c&lt;d&gt;&amp;\ufffd"


def test_every_picture_is_well_formed_svg(page):
    for svg in svgs(page):
        ET.fromstring(svg)


def test_deterministic(report, page):
    assert render_html(copy.deepcopy(report)) == page
    assert render_html(report_samples.sample_report()) == page


def test_only_generated_at_carries_time(report, page):
    other = copy.deepcopy(report)
    other["generated_at"] = "2030-01-01T00:00:00Z"
    assert render_html(other) == page.replace(report["generated_at"], "2030-01-01T00:00:00Z")


def test_colours_per_owner_on_the_big_host(report):
    big = host(report, "hv-big")
    colours = guest_colours(host_guests(big))
    found = cells(render_host_svg(big, colours, "t"))
    assert sorted(found) == list(range(256))
    # Each guest its own colour, none of them an owner colour.
    assert len(set(colours.values())) == len(colours) == 24
    assert not set(colours.values()) & set(OWNER_COLOURS.values())
    for p in big["topology"]["packages"]:
        for c in p["cores"]:
            for t in c["threads"]:
                fill, title = found[t["cpu"]]
                expected = colours[t["guest"]] if t["owner"] == "guest" else OWNER_COLOURS[t["owner"]]
                assert fill == expected, (t, fill)
                assert title.startswith("CPU %d: " % t["cpu"])
    assert found[0][0] == OWNER_COLOURS["housekeeping"] and "host tasks" in found[0][1]
    assert found[61] == (OWNER_COLOURS["idle"], "CPU 61: idle; isolated (isolcpus)")
    assert found[1][1] == "CPU 1: vm-00 vCPU 0; isolated (isolcpus)"
    assert found[246][1].startswith("CPU 246: web-2 vCPU 0")


def test_neighbouring_guests_get_neighbouring_palette_colours(report):
    big = host(report, "hv-big")
    order = host_guests(big)
    assert order[:4] == ["vm-00", "vm-01", "vm-02", "vm-03"]
    colours = guest_colours(order)
    assert [colours[g] for g in order[:len(GUEST_PALETTE)]] == list(GUEST_PALETTE)


def test_many_guests_still_get_distinct_colours():
    colours = guest_colours(["g%03d" % i for i in range(200)])
    assert len(set(colours.values())) == 200
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours.values())


def test_cpu_numbers_are_readable_on_their_fill():
    assert text_colour("#ffffff") == "#000000" and text_colour("#212529") == "#ffffff"
    assert text_colour(OWNER_COLOURS["housekeeping"]) == "#ffffff"
    assert text_colour("#ffbb78") == "#000000"


def test_a_2x64x2_host_fits_a_screen_16_cores_a_row(report):
    svg = render_host_svg(host(report, "hv-big"), guest_colours(host_guests(host(report, "hv-big"))), "t")
    root = ET.fromstring(svg)
    width, height = int(root.get("width")), int(root.get("height"))
    assert width <= MAX_WIDTH and height < 420, (width, height)
    cores = [g for g in root.iter(SVG + "g") if g.get("class") == "core"]
    assert len(cores) == 128
    xs = sorted({int(float(g.find(SVG + "rect").get("x"))) for g in cores})
    assert len(xs) == 16
    assert len(svg) < 120_000  # about 60 kB: a few hundred such hosts make a page a browser opens


def test_split_cores_and_isolated_cpus_are_marked(report):
    svg = render_host_svg(host(report, "hv-big"), guest_colours(host_guests(host(report, "hv-big"))), "t")
    root = ET.fromstring(svg)
    split = [g.find(SVG + "title").text for g in root.iter(SVG + "g")
             if g.get("class") == "core" and "SPLIT" in g.find(SVG + "title").text]
    assert [s.split("CPUs ")[1].split(" ")[0] for s in split] == ["118,246", "119,247", "120,248", "121,249"]
    assert svg.count('stroke-dasharray="4 2"') == 4
    # 252 isolated CPUs, each with its corner flag.
    assert svg.count('<path d="M') == 252


def test_offline_cpus_and_legend_of_the_small_host(report, page):
    small = host(report, "hv-small")
    found = cells(render_host_svg(small, guest_colours(host_guests(small)), "s"))
    assert {cpu: found[cpu][0] for cpu in (4, 5, 6, 7)} == {cpu: OWNER_COLOURS["offline"] for cpu in (4, 5, 6, 7)}
    section = page.split('<section id="host-3">')[1].split("</section>")[0]
    assert "offline (core unknown)" in section and "housekeeping (host tasks)" in section
    assert "idle (nothing may run here)" not in section  # only owners that occur are explained


def test_drifted_guests_are_flagged_in_legend_and_table(page):
    section = page.split('<section id="host-1">')[1].split("</section>")[0]
    assert section.count('<b class="drift">(drift)</b>') == 2
    assert "no_nonarch_core_sharing: granted &rarr; denied</span> <span class=\"code\">(sibling_shared)" in section


def test_fleet_summary_has_statements_reasons_and_drift(page):
    fleet = page.split('<h2 id="fleet">')[1].split('<h2 id="hosts">')[0]
    for text in ("Statements", "Denials by reason code", "Drift by kind", "sibling_shared", "vcpu_repinned",
                 "statements no longer holding"):
        assert text in fleet


def test_pictures_are_capped_drifted_hosts_first(report):
    page = render_html(report, max_pictures=1)
    assert len(svgs(page)) == 1
    assert "CPU topology of hv-big" in page  # hv-big has drift, so it is drawn first
    assert "Hosts without a picture: 1 (pictures are drawn for 1 hosts" in page


def test_filter_refuses_what_is_not_a_report():
    with pytest.raises(AnsibleFilterError, match="expected the output of hvfleet.smt.smt_report"):
        smt_report_html({"hosts": []})
    with pytest.raises(AnsibleFilterError, match="max_pictures must be an integer"):
        smt_report_html(report_samples.sample_report(), "many")
    with pytest.raises(AnsibleFilterError, match="not in the hvfleet.smt.smt_report shape"):
        smt_report_html({"schema": 1, "generated_at": "t", "summary": {}, "hosts": []})
