#!/usr/bin/env python
"""Define, start and remove small libvirt test domains that boot a boot-sector payload.

Tests of placement facts and pinning need *real* QEMU processes whose vCPU,
emulator and iothreads libvirt has pinned, not XML on disk. A 512-byte boot
sector that prints a marker to COM1 and halts gives exactly that for almost
no CPU: it runs under the restricted nested KVM of CI machines (``type='kvm'``)
and under TCG (``type='qemu'``) when /dev/kvm is unusable.

The domains are described by a small JSON spec (a list of objects), so a
Molecule scenario can keep them as YAML variables and pass ``to_json``::

  {"name": "hvfleet-test-pinned",      # must start with "hvfleet-test-"
   "vcpus": 2,                          # maximum vCPUs
   "current_vcpus": 2,                  # optional: fewer online at boot
   "cpuset": "0-1,^0",                  # optional <vcpu cpuset>
   "topology": {"sockets": 1, "dies": 1, "cores": 1, "threads": 2},  # optional
   "vcpupin": {"0": "1", "1": "0"},     # optional, vCPU id -> libvirt cpuset
   "emulatorpin": "0",                  # optional
   "iothreads": 1,                      # optional count
   "iothreadpin": {"1": "1"},           # optional, iothread id -> cpuset
   "memory_mib": 16,                    # optional
   "type": "auto",                      # optional: auto | kvm | qemu (TCG)
   "start": true,                       # optional: false = defined only (shut off)
   "payload": "marker",                 # optional: marker | cpuid (../payloads/cpuid: prints
                                        #   CPUID leaves, then END, and halts)
   "cpu_mode": "host-passthrough",      # optional <cpu mode>
   "cpu_features": {"arch-capabilities": "disable"}}  # optional <cpu><feature> policies

``auto`` means ``kvm`` when /dev/kvm opens read-write, else ``qemu``;
``--virt-type`` (or HVFLEET_TEST_VIRT_TYPE) overrides ``auto`` entries.
Under nested KVM the firmware needs a few CPU-seconds to reach the boot
sector (TCG: a tenth of that), which is why a spec may mix the two; both
thread namings ("CPU 0/KVM", "CPU 0/TCG") then get exercised.

Only names with the prefix are ever touched, so ``down`` cannot remove
somebody else's domain. Output is one JSON document with ``changed``.

Usage:
  domains.py up   --spec JSON|@FILE [--state-dir DIR] [--virt-type auto|kvm|qemu]
  domains.py down --spec JSON|@FILE [--state-dir DIR]
  domains.py xml  --spec JSON|@FILE [--state-dir DIR] [--virt-type ...]  (print, define nothing)
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

PREFIX = "hvfleet-test-"
URI = "qemu:///system"
DEFAULT_STATE_DIR = "/var/tmp/hvfleet-libvirt"
BOOT_TIMEOUT = 60.0
HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOAD_SCRIPT = os.path.join(HERE, "..", "payloads", "bootsector.py")
SPEC_KEYS = frozenset((
    "name", "vcpus", "current_vcpus", "cpuset", "topology", "vcpupin", "emulatorpin",
    "iothreads", "iothreadpin", "memory_mib", "type", "start", "payload", "cpu_mode", "cpu_features"))
CPUID_PAYLOAD_SCRIPT = os.path.join(HERE, "..", "payloads", "cpuid", "cpuid_payload.py")
#: What the CPUID payload prints after its table (it then halts with interrupts off).
CPUID_END = "END"


class InfraError(Exception):
    """A failure the operator can act on; printed without a traceback."""


def load_spec(text):
    if text.startswith("@"):
        with open(text[1:]) as handle:
            text = handle.read()
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise InfraError("--spec is not JSON: %s" % exc)
    if not isinstance(spec, list) or not all(isinstance(d, dict) for d in spec):
        raise InfraError("--spec must be a JSON list of domain objects, got %r" % (spec,))
    for domain in spec:
        name = domain.get("name")
        if not isinstance(name, str) or not name.startswith(PREFIX):
            raise InfraError("domain name %r must be a string starting with %r" % (name, PREFIX))
        unknown = sorted(set(domain) - SPEC_KEYS)
        if unknown:
            raise InfraError("domain %s: unknown keys %s (known: %s)" % (
                name, ", ".join(unknown), ", ".join(sorted(SPEC_KEYS))))
        if not isinstance(domain.get("vcpus"), int) or domain["vcpus"] < 1:
            raise InfraError("domain %s: vcpus must be a positive integer, got %r" % (
                name, domain.get("vcpus")))
    return spec


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


def choose_virt_type(requested):
    if requested == "auto":
        requested = os.environ.get("HVFLEET_TEST_VIRT_TYPE", "auto")
    if requested == "auto":
        return "kvm" if kvm_usable() else "qemu"
    if requested not in ("kvm", "qemu"):
        raise InfraError("virt type must be auto, kvm or qemu, got %r" % requested)
    return requested


def domain_virt_type(domain, default):
    wanted = domain.get("type", "auto")
    if wanted == "auto":
        return default
    return choose_virt_type(wanted)


def paths(state_dir, name):
    base = os.path.join(state_dir, name)
    return {"image": base + ".img", "serial": base + ".serial.log", "xml": base + ".xml"}


def domain_xml(domain, virt_type, files):
    """Render the libvirt XML for one spec entry (ElementTree: names are escaped)."""
    root = ET.Element("domain", type=virt_type)
    ET.SubElement(root, "name").text = domain["name"]
    ET.SubElement(root, "memory", unit="MiB").text = str(domain.get("memory_mib", 16))
    vcpu = ET.SubElement(root, "vcpu", placement="static")
    vcpu.text = str(domain["vcpus"])
    if "cpuset" in domain:
        vcpu.set("cpuset", domain["cpuset"])
    if "current_vcpus" in domain:
        vcpu.set("current", str(domain["current_vcpus"]))
    if domain.get("iothreads"):
        ET.SubElement(root, "iothreads").text = str(domain["iothreads"])
    vcpupins = _by_id(domain.get("vcpupin", {}))
    iothreadpins = _by_id(domain.get("iothreadpin", {}))
    if vcpupins or iothreadpins or "emulatorpin" in domain:
        cputune = ET.SubElement(root, "cputune")
        for vcpu_id, cpuset in vcpupins:
            ET.SubElement(cputune, "vcpupin", vcpu=vcpu_id, cpuset=cpuset)
        if "emulatorpin" in domain:
            ET.SubElement(cputune, "emulatorpin", cpuset=domain["emulatorpin"])
        for iothread_id, cpuset in iothreadpins:
            ET.SubElement(cputune, "iothreadpin", iothread=iothread_id, cpuset=cpuset)
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(os_el, "boot", dev="hd")
    if "topology" in domain or "cpu_mode" in domain or "cpu_features" in domain:
        cpu = ET.SubElement(root, "cpu")
        if "cpu_mode" in domain:
            cpu.set("mode", domain["cpu_mode"])
        if "topology" in domain:
            ET.SubElement(cpu, "topology", {k: str(v) for k, v in domain["topology"].items()})
        for feature, policy in sorted(domain.get("cpu_features", {}).items()):
            ET.SubElement(cpu, "feature", policy=policy, name=feature)
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(root, event).text = "destroy"
    devices = ET.SubElement(root, "devices")
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="raw")
    ET.SubElement(disk, "source", file=files["image"])
    ET.SubElement(disk, "target", dev="hda", bus="ide")
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=files["serial"])
    ET.SubElement(serial, "target", port="0")
    ET.SubElement(devices, "controller", type="usb", model="none")
    ET.SubElement(devices, "memballoon", model="none")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _by_id(pins):
    """Sort {"id": cpuset} numerically; keys may be ints or strings (YAML or JSON)."""
    return [(str(key), str(value)) for key, value in sorted(pins.items(), key=lambda item: int(item[0]))]


def virsh(*args, check=True):
    result = subprocess.run(["virsh", "-c", URI] + list(args), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise InfraError("virsh %s failed (rc=%d): %s" % (
            " ".join(args), result.returncode, (result.stderr or result.stdout).strip()))
    return result


def domain_state(name):
    """Return the domain's state string, or None when it is not defined."""
    result = virsh("domstate", "--domain", name, check=False)
    if result.returncode != 0:
        return None
    return result.stdout.strip()


def load_payload_module():
    spec = importlib.util.spec_from_file_location("hvfleet_bootsector", PAYLOAD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def marker_for(name, payload="marker"):
    return CPUID_END if payload == "cpuid" else "HVFLEET-PAYLOAD-OK " + name


def load_cpuid_payload_module():
    spec = importlib.util.spec_from_file_location("hvfleet_cpuid_payload", CPUID_PAYLOAD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_for(domain, payload):
    """The boot sector: the marker payload, or the CPUID payload (same 512-byte disk image)."""
    if domain.get("payload", "marker") == "cpuid":
        return load_cpuid_payload_module().boot_sector()
    return payload.boot_sector(marker_for(domain["name"]))


def up(spec, state_dir, virt_type):
    """Define what is missing, start what is not running, then wait for every marker.

    Starting all before waiting overlaps the firmware's few seconds per guest.
    """
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    os.chmod(state_dir, 0o755)  # QEMU runs as another user and must reach the image
    payload = load_payload_module()
    report = {"changed": False, "virt_type": virt_type, "domains": []}
    started = time.monotonic()
    booting = []
    for domain in spec:
        name = domain["name"]
        files = paths(state_dir, name)
        state = domain_state(name)
        entry = {
            "name": name, "defined_now": False, "started_now": False, "serial": files["serial"],
            "type": domain_virt_type(domain, virt_type)}
        xml = domain_xml(domain, entry["type"], files)
        if state is not None and read_or_none(files["xml"]) != xml:
            # The spec changed since this domain was defined: start over rather than test a stale one.
            if state != "shut off":
                virsh("destroy", "--domain", name)
            virsh("undefine", "--domain", name)
            entry["redefined"] = True
            state = None
        if state is None:
            with open(files["image"], "wb") as handle:
                handle.write(image_for(domain, payload))
            with open(files["xml"], "w") as handle:
                handle.write(xml)
            virsh("define", "--file", files["xml"])
            entry["defined_now"] = True
            report["changed"] = True
            state = "shut off"
        if state != "running" and domain.get("start", True):
            if os.path.exists(files["serial"]):
                os.unlink(files["serial"])
            virsh("start", "--domain", name)
            entry["started_now"] = True
            report["changed"] = True
            booting.append((entry, files["serial"], domain.get("payload", "marker")))
        report["domains"].append(entry)
    for entry, serial, kind in booting:
        wait_marker(entry["name"], serial, kind)
        entry["booted_after_seconds"] = round(time.monotonic() - started, 3)
    for entry in report["domains"]:
        entry["state"] = domain_state(entry["name"])
    return report


def read_or_none(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def wait_marker(name, serial, kind="marker"):
    marker = marker_for(name, kind).encode("ascii")
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with open(serial, "rb") as handle:
                if marker in handle.read():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise InfraError("domain %s: no %r on COM1 (%s) within %.0f s" % (
        name, marker.decode(), serial, BOOT_TIMEOUT))


def down(spec, state_dir):
    report = {"changed": False, "domains": []}
    if shutil.which("virsh") is None:
        report["note"] = "virsh is not installed: no domain to remove"
        return report
    for domain in spec:
        name = domain["name"]
        state = domain_state(name)
        entry = {"name": name, "removed": False}
        if state is not None:
            if state != "shut off":
                virsh("destroy", "--domain", name)
            virsh("undefine", "--domain", name)
            entry["removed"] = True
            report["changed"] = True
        for path in paths(state_dir, name).values():
            if os.path.exists(path):
                os.unlink(path)
        report["domains"].append(entry)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "xml"))
    parser.add_argument("--spec", required=True, help="JSON list, or @FILE")
    parser.add_argument("--state-dir", default=os.environ.get("HVFLEET_LIBVIRT_STATE", DEFAULT_STATE_DIR))
    parser.add_argument("--virt-type", default="auto")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        if args.action == "xml":
            virt_type = choose_virt_type(args.virt_type)
            for domain in spec:
                sys.stdout.write(domain_xml(domain, domain_virt_type(domain, virt_type), paths(args.state_dir, domain["name"])))
            return 0
        if os.geteuid() != 0:
            raise InfraError("must run as root (domains of the system libvirtd)")
        if args.action == "up":
            report = up(spec, args.state_dir, choose_virt_type(args.virt_type))
        else:
            report = down(spec, args.state_dir)
    except (InfraError, OSError) as exc:
        print("domains.py %s: %s" % (args.action, exc), file=sys.stderr)
        return 1
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
