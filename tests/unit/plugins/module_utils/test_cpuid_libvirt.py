# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt domain XML: version-dependent attributes, authoritative merge, schema-valid output."""

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils import cpuid
from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import RenderError

QEMU = "{%s}" % cpuid.QEMU_NS
SMT = {"sockets": 1, "dies": 1, "cores": 2, "threads": 2}
NAMES = cpuid.STATEMENT_NAMES

DOMAIN = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>db-1</name>
  <memory unit='KiB'>16384</memory>
  <vcpu placement='static'>4</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>EPYC</model>
    <topology sockets='4' cores='1' threads='1'/><feature policy='disable' name='svm'/></cpu>
  <devices><console type='pty'/></devices>
  <qemu:commandline><qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/></qemu:commandline>
  <sysinfo type='smbios'><oemStrings><entry>io.systemd.credential:x=y</entry></oemStrings></sysinfo>
</domain>
"""


def settings(granted=(), topology=None, **kwargs):
    data = {name: {"granted": name in granted, "reasons": [] if name in granted else [
        {"code": "sibling_shared", "message": "m"}]} for name in NAMES}
    return cpuid.plan_cpuid(cpuid.statements_from_data(data),
                            cpuid.topology_from_data(topology or SMT), **kwargs)


def document_entries(granted=()):
    data = {name: {"granted": name in granted, "reasons": []} for name in NAMES}
    document = sd.build_document(sd.statements_from_data(data), "hv1", None, "2026-11-25T05:00:00Z")
    return sd.libvirt_entries(sd.encode_document(document))


def changes(granted=(), libvirt="9.0.0", with_document=True, **kwargs):
    fw_cfg, oem = document_entries(granted) if with_document else (None, None)
    return cpuid.libvirt_changes(settings(granted, **kwargs), libvirt, fw_cfg, oem)


def apply(xml, granted=(), **kwargs):
    return cpuid.apply_libvirt_changes(xml, changes(granted, **kwargs))


def validate(xml, tmp_path):
    """libvirt's own schema check; the binary comes with libvirt-clients (hack/apt-packages.txt).

    Renderings validated here target libvirt 9.0 (Debian 12): a newer
    installed schema accepts them too, an older one would not know ``dies``.
    """
    binary = shutil.which("virt-xml-validate")
    if binary is None:
        pytest.fail("virt-xml-validate not found: install the Debian package libvirt-clients "
                    "(hack/apt-packages.txt) -- the rendered XML must be checked against "
                    "libvirt's schema")
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    result = subprocess.run([binary, str(path), "domain"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr + result.stdout


class TestChanges:
    @pytest.mark.parametrize("version, attributes", [
        ("5.7.0", ["sockets", "cores", "threads"]),
        ("6.1.0", ["sockets", "dies", "cores", "threads"]),
        ("10.0.0", ["sockets", "dies", "cores", "threads"]),
        ("10.1.0", ["sockets", "dies", "clusters", "cores", "threads"]),
    ])
    def test_topology_attributes_by_libvirt_version(self, version, attributes):
        assert [name for name, _value in changes(libvirt=version).topology] == attributes

    def test_dies_before_6_1_cannot_be_expressed(self):
        with pytest.raises(RenderError, match="topology.dies=2 needs libvirt 6.1"):
            changes(libvirt="6.0.0", topology=dict(SMT, dies=2))

    def test_hint_dedicated_needs_5_7(self):
        with pytest.raises(RenderError, match=r"<kvm><hint-dedicated> needs libvirt 5.7"):
            changes(("dedicated",), libvirt="5.6.0")

    def test_nonarch_is_a_tainting_passthrough(self):
        result = changes(("no_nonarch_core_sharing",), hyperv=True)
        assert result.qemu_args == ("-global", "x86_64-cpu.hv-no-nonarch-coresharing=on")
        assert result.taints == ("custom-argv",)
        assert result.hyperv_relaxed

    def test_old_libvirt_drops_channels_with_notes(self):
        result = changes(libvirt="6.1.0")
        assert result.fw_cfg is None and result.oem_string is not None
        assert "fw_cfg" in result.notes[0]
        assert changes(libvirt="6.5.0").fw_cfg is not None

    def test_to_dict(self):
        result = changes(("dedicated",), vendor="AuthenticAMD").to_dict()
        assert result["cpu"] == {"mode": "host-passthrough", "require_features": ["topoext"],
                                 "topology": {"sockets": "1", "dies": "1", "cores": "2",
                                              "threads": "2"}}
        assert result["kvm_hint_dedicated"] is True
        assert result["fw_cfg"]["name"] == "opt/org.hvfleet/smt-hints"
        assert result["oem_string"].startswith("org.hvfleet.smt-hints:{")


class TestApply:
    def test_granted_dedicated_on_a_custom_cpu_domain(self, tmp_path):
        update = apply(DOMAIN, ("dedicated",), vendor="AuthenticAMD")
        assert update.changed
        root = ET.fromstring(update.xml)
        cpu = root.find("cpu")
        assert cpu.get("mode") == "host-passthrough" and cpu.get("match") is None
        assert cpu.find("model") is None
        assert cpu.find("topology").attrib == {"sockets": "1", "dies": "1", "cores": "2",
                                               "threads": "2"}
        features = {f.get("name"): f.get("policy") for f in cpu.findall("feature")}
        assert features == {"svm": "disable", "topoext": "require"}
        assert root.find("features/kvm/hint-dedicated").get("state") == "on"
        assert root.find("features/hyperv") is None
        assert root.find("os/smbios").get("mode") == "sysinfo"
        validate(update.xml, tmp_path)

    def test_idempotent(self):
        first = apply(DOMAIN, NAMES, hyperv=True)
        second = cpuid.apply_libvirt_changes(first.xml, changes(NAMES, hyperv=True))
        assert not second.changed
        assert second.xml == first.xml

    def test_a_withdrawn_grant_is_taken_back(self, tmp_path):
        granted = apply(DOMAIN, NAMES, hyperv=True).xml
        withdrawn = cpuid.apply_libvirt_changes(granted, changes((), hyperv=True))
        assert withdrawn.changed
        root = ET.fromstring(withdrawn.xml)
        assert root.find("features/kvm") is None
        args = [a.get("value") for a in root.iter(QEMU + "arg")]
        assert args == ["-msg", "timestamp=on"], "only our -global pair goes"
        assert root.find("features/hyperv/relaxed").get("state") == "on"
        validate(withdrawn.xml, tmp_path)

    def test_other_kvm_features_survive(self):
        xml = DOMAIN.replace("<apic/>", "<apic/><kvm><poll-control state='on'/></kvm>")
        granted = apply(xml, ("dedicated",)).xml
        withdrawn = ET.fromstring(apply(granted).xml)
        assert [e.tag for e in withdrawn.find("features/kvm")] == ["poll-control"]

    def test_nonarch_passthrough_and_hyperv(self, tmp_path):
        update = apply(DOMAIN, ("no_nonarch_core_sharing",), hyperv=True)
        root = ET.fromstring(update.xml)
        args = [a.get("value") for a in root.iter(QEMU + "arg")]
        assert args == ["-msg", "timestamp=on", "-global",
                        "x86_64-cpu.hv-no-nonarch-coresharing=on"]
        assert root.find("features/hyperv/relaxed").get("state") == "on"
        validate(update.xml, tmp_path)

    def test_hyperv_passthrough_mode_is_kept(self):
        xml = DOMAIN.replace("<apic/>", "<apic/><hyperv mode='passthrough'/>")
        root = ET.fromstring(apply(xml, ("no_nonarch_core_sharing",), hyperv=True).xml)
        hyperv = root.find("features/hyperv")
        assert hyperv.get("mode") == "passthrough" and len(hyperv) == 0

    def test_existing_enlightenments_without_the_opt_in_are_refused(self):
        xml = DOMAIN.replace("<apic/>", "<apic/><hyperv><vapic state='on'/></hyperv>")
        with pytest.raises(RenderError, match="KVM's leaves are at 0x40000100; render with hyperv"):
            apply(xml, ("dedicated",))

    def test_vendor_id_alone_is_not_an_enlightenment(self):
        xml = DOMAIN.replace("<apic/>", "<apic/><hyperv><vendor_id state='on' value='x'/></hyperv>")
        assert apply(xml, ("dedicated",)).changed

    def test_document_entries_replace_ours_and_keep_others(self, tmp_path):
        once = apply(DOMAIN, ("dedicated",)).xml
        again = ET.fromstring(apply(once, NAMES).xml)
        oem = [e.text for e in again.findall("sysinfo[@type='smbios']/oemStrings/entry")]
        assert oem[0] == "io.systemd.credential:x=y"
        assert len(oem) == 2 and sd.parse_document(
            sd.document_from_oem_strings(oem)).granted("no_smt")
        fw_cfg = again.findall("sysinfo[@type='fwcfg']/entry")
        assert len(fw_cfg) == 1 and fw_cfg[0].get("name") == sd.FW_CFG_NAME
        assert sd.parse_document(sd.document_from_fw_cfg(fw_cfg[0].text)).granted("no_smt")

    def test_without_a_document_ours_are_removed(self, tmp_path):
        once = apply(DOMAIN, ("dedicated",)).xml
        root = ET.fromstring(apply(once, with_document=False).xml)
        assert root.find("sysinfo[@type='fwcfg']") is None
        assert [e.text for e in root.findall("sysinfo/oemStrings/entry")] == [
            "io.systemd.credential:x=y"]

    def test_other_smbios_mode_is_kept_with_a_note(self):
        xml = DOMAIN.replace("hvm</type>", "hvm</type><smbios mode='host'/>")
        update = apply(xml)
        assert ET.fromstring(update.xml).find("os/smbios").get("mode") == "host"
        assert any("SMBIOS channel does not reach this guest" in n for n in update.notes)

    def test_minimal_domain_gets_every_element(self, tmp_path):
        xml = ("<domain type='kvm'><name>g</name><memory>16384</memory><vcpu>4</vcpu>"
               "<os><type arch='x86_64'>hvm</type></os></domain>")
        update = apply(xml, NAMES, hyperv=True)
        root = ET.fromstring(update.xml)
        assert root.find("cpu/topology").get("dies") == "1"
        validate(update.xml, tmp_path)
        # clusters only from libvirt 10.1; the schema installed here (Debian 12: 9.0)
        # rightly rejects it, so this one is checked without validation.
        newer = ET.fromstring(apply(xml, NAMES, hyperv=True, libvirt="10.1.0").xml)
        assert newer.find("cpu/topology").get("clusters") == "1"

    @pytest.mark.parametrize("xml, match", [
        ("<domain><name>", "domain XML: not well-formed XML"),
        ("<network/>", "expected a <domain> element, got <network>"),
    ])
    def test_bad_input(self, xml, match):
        with pytest.raises(RenderError, match=match):
            apply(xml)
