"""Boot the CPUID payload in real QEMU with the rendered arguments and check what it read.

The renderers claim that a granted ``dedicated`` sets 0x40000001 EDX bit 0
and that nothing else moves; this runs QEMU (``-accel kvm``) with exactly the
arguments ``cpuid.qemu_arguments`` produced, reads the leaves the payload
prints on COM1, and compares them with ``cpuid.cpuid_table`` and with a
baseline boot. QMP (``qom-get`` on vCPU 0) shows which properties QEMU really
applied, which is the only evidence available for Hyper-V bits on hosts whose
KVM lacks ``KVM_CAP_HYPERV``. The payload also prints the fw_cfg file
``opt/org.hvfleet/smt-hints`` it finds: cases booted with the statement
document check that the guest read it back and that the collection's parser
makes the rendered document of it; cases without it, that the guest found none.

Used by tests/unit/plugins/module_utils/test_cpuid_kvm.py (fast: a 64 KiB
loader instead of SeaBIOS) and by the Molecule scenario ``cpuid_kvm``
(SeaBIOS boots the same sector from a disk image), so both check the same
things. CLI::

    python3 cpuid_probe.py run --workdir DIR [--firmware seabios|loader] [--output FILE]
    python3 cpuid_probe.py run-libvirt --workdir DIR [--output FILE]
    python3 cpuid_probe.py clean-libvirt
    python3 cpuid_probe.py read-serial FILE

prints (or writes) a JSON report; exit status 0 only when every check passed.
``read-serial`` prints what the last boot in a serial log read (``read_serial``)
for checks elsewhere (the Molecule scenario ``libvirt``); it exits 0 whenever the
log could be read.
``run-libvirt`` boots the dedicated and Hyper-V cases as transient libvirt
domains rendered by ``cpuid.apply_libvirt_changes`` (needs a running libvirtd).
"""

import argparse
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, HERE)
import cpuid_payload  # noqa: E402

sys.path.pop(0)

QEMU = "qemu-system-x86_64"
KVM_DEVICE = "/dev/kvm"
#: This machine's nested KVM rejects the host's arch-capabilities MSR (TOOLING.md).
HOST_QUIRK_FLAGS = ("-arch-capabilities",)
BOOT_TIMEOUT = {"loader": 30, "seabios": 120}
CPU_PROPERTIES = ("kvm-hint-dedicated", "hv-relaxed", "hv-no-nonarch-coresharing", "topoext")
LINE = re.compile(r"^C ([0-9A-F]{8}) ([0-9A-F]{8}) ([0-9A-F]{8}) ([0-9A-F]{8}) "
                  r"([0-9A-F]{8}) ([0-9A-F]{8})$")
REGISTERS = ("eax", "ebx", "ecx", "edx")
#: Leaf 0 spells the vendor in EBX, EDX, ECX order.
VENDOR_NAMES = {(0x68747541, 0x69746E65, 0x444D4163): "AuthenticAMD",
                (0x756E6547, 0x49656E69, 0x6C65746E): "GenuineIntel"}


class ProbeError(Exception):
    """The probe could not run at all: missing QEMU or KVM, a guest that did not finish."""


def cpuid_module():
    """Import the renderers as Ansible would, from this checkout."""
    try:
        from ansible_collections.hvfleet.smt.plugins.module_utils import cpuid
        return cpuid
    except ImportError:
        pass
    root = os.path.join(REPO_ROOT, ".cache", "collections")
    link = os.path.join(root, "ansible_collections", "hvfleet", "smt")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(REPO_ROOT, link)
    sys.path.insert(0, root)
    from ansible_collections.hvfleet.smt.plugins.module_utils import cpuid
    return cpuid


def document_module():
    """statement_document, imported like ``cpuid_module`` (the guest side's own parser)."""
    cpuid_module()
    from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document
    return statement_document


def read_fw_cfg(text):
    """The fw_cfg section of a serial log, with the document parsed by statement_document.

    ``{"state", "size", "content", "document", "error"}``: ``content`` is the
    file as the guest read it (base64 text), ``document`` what the collection's
    strict parser makes of it (``to_dict``), or None with ``error`` saying why.
    """
    report = {"state": "missing", "size": None, "content": None, "document": None, "error": None}
    try:
        section = cpuid_payload.parse_fw_cfg(text)
    except ValueError as exc:
        report.update(state="garbled", error=str(exc))
        return report
    report.update(state=section["state"], size=section["size"])
    if section["state"] != "file":
        return report
    report["content"] = section["data"].decode("ascii", errors="backslashreplace")
    sd = document_module()
    try:
        report["document"] = sd.parse_document(
            sd.document_from_fw_cfg(section["data"])).to_dict()
    except sd.DocumentError as exc:
        report["error"] = str(exc)
    return report


def read_serial(path):
    """What the last boot in a serial log printed: CPUID leaves, the fw_cfg file, END."""
    with open(path, encoding="ascii", errors="replace") as handle:
        text = handle.read()
    leaves = parse_serial(text)
    return {
        "serial": path,
        "finished": re.search(r"(?m)^END\r?$", text) is not None,
        "leaves": {slot: {reg: "0x%08X" % value for reg, value in regs.items()}
                   for slot, regs in leaves.items()},
        "fw_cfg": read_fw_cfg(text),
    }


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------

def require_qemu_and_kvm():
    """Return the QEMU binary; raise with what to install or fix when it cannot run KVM."""
    binary = shutil.which(QEMU)
    if binary is None:
        raise ProbeError("%s not found on PATH: install the Debian package qemu-system-x86 "
                         "(hack/apt-packages.txt); the CPUID proof needs real QEMU" % QEMU)
    if not os.path.exists(KVM_DEVICE):
        raise ProbeError("%s does not exist: this machine has no KVM (load kvm_intel/kvm_amd, "
                         "or run on a host with nested virtualisation); the CPUID proof needs "
                         "-accel kvm because TCG drops kvm-hint-dedicated" % KVM_DEVICE)
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        raise ProbeError("%s is not readable and writable by uid %d: add the user to group kvm"
                         % (KVM_DEVICE, os.getuid()))
    return binary


KVM_CHECK_EXTENSION = 0xAE03  # _IO(KVMIO, 0x03)
KVM_CAP_HYPERV = 44


def kvm_has_hyperv():
    """KVM_CHECK_EXTENSION(KVM_CAP_HYPERV): QEMU builds Hyper-V leaves only when this is > 0."""
    import fcntl

    descriptor = os.open(KVM_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(descriptor, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV) > 0
    finally:
        os.close(descriptor)


def qemu_version(binary):
    output = subprocess.run([binary, "--version"], capture_output=True, text=True,
                            timeout=30, check=True).stdout
    match = re.search(r"version (\d+\.\d+(?:\.\d+)?)", output)
    if not match:
        raise ProbeError("cannot read the QEMU version from %r" % output[:200])
    return match.group(1)


def write_images(workdir):
    """The boot sector as a disk image (SeaBIOS) and inside a 64 KiB loader (no firmware)."""
    disk = os.path.join(workdir, "cpuid-bootsector.img")
    loader = os.path.join(workdir, "cpuid-loader.bin")
    cpuid_payload.write_image(disk)
    cpuid_payload.write_image(loader, firmware=True)
    return {"seabios": disk, "loader": loader}


# --------------------------------------------------------------------------
# One boot
# --------------------------------------------------------------------------

class Qmp:
    """Line-oriented QMP over the child's stdio, with a deadline on every read."""

    def __init__(self, process, deadline):
        self.process = process
        self.deadline = deadline
        self.buffer = b""

    def _line(self):
        while b"\n" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError("QMP: no answer from QEMU before the deadline")
            ready = select.select([self.process.stdout], [], [], remaining)[0]
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    raise ProbeError("QMP: QEMU closed its monitor (exit status %s)"
                                     % self.process.poll())
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def greet(self):
        self._line()
        return self.command("qmp_capabilities")

    def command(self, name, **arguments):
        message = {"execute": name}
        if arguments:
            message["arguments"] = arguments
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()
        while True:
            reply = self._line()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                return {"error": reply["error"].get("desc", str(reply["error"]))}


def boot(binary, image, firmware, accel, arguments, workdir, name):
    """Run one guest to its isa-debug-exit; return the leaves, CPU properties and stderr."""
    serial = os.path.join(workdir, "%s.serial" % name)
    if os.path.exists(serial):
        os.unlink(serial)
    command = [binary, "-accel", accel, "-machine", "pc", "-m", "16", "-nodefaults",
               "-display", "none", "-no-reboot", "-S", "-qmp", "stdio",
               "-serial", "file:%s" % serial,
               "-device", "isa-debug-exit,iobase=0x%x,iosize=0x04" % cpuid_payload.DEBUG_EXIT_PORT]
    if firmware == "loader":
        command += ["-bios", image]
    else:
        command += ["-boot", "menu=off", "-drive", "file=%s,format=raw,if=ide" % image]
    command += list(arguments)
    started = time.monotonic()
    deadline = started + BOOT_TIMEOUT[firmware]
    stderr_path = os.path.join(workdir, "%s.stderr" % name)
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=stderr)
        try:
            properties = {}
            qmp = Qmp(process, deadline)
            try:
                qmp.greet()
                cpus = qmp.command("query-cpus-fast")
                path = sorted(cpus, key=lambda cpu: cpu["cpu-index"])[0]["qom-path"]
                for prop in CPU_PROPERTIES:
                    properties[prop] = qmp.command("qom-get", path=path, property=prop)
                qmp.command("cont")
            except ProbeError:
                if process.poll() is None:
                    raise
            status = process.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise ProbeError("%s: QEMU did not exit within %ds: %s"
                             % (name, BOOT_TIMEOUT[firmware], " ".join(command)))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdin.close()
            process.stdout.close()
    with open(stderr_path, encoding="utf-8", errors="replace") as handle:
        stderr_text = handle.read()
    output = ""
    if os.path.exists(serial):
        with open(serial, encoding="ascii", errors="replace") as handle:
            output = handle.read()
    return {
        "name": name,
        "command": command,
        "exit_status": status,
        "seconds": round(time.monotonic() - started, 2),
        "stderr": stderr_text.strip(),
        "properties": properties,
        "leaves": parse_serial(output) if status == cpuid_payload.EXIT_STATUS else {},
        "fw_cfg": read_fw_cfg(output),
        "finished": status == cpuid_payload.EXIT_STATUS and output.rstrip().endswith("END"),
    }


def parse_serial(text):
    """``{"LLLLLLLL/SS": {"eax": int, …}}`` from the payload's lines."""
    leaves = {}
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match:
            leaf, subleaf, *values = (int(part, 16) for part in match.groups())
            leaves[key(leaf, subleaf)] = dict(zip(REGISTERS, values))
    return leaves


def key(leaf, subleaf):
    return "%08X/%02X" % (leaf, subleaf or 0)


def vendor_of(leaves):
    zero = leaves.get(key(0, 0))
    if zero is None:
        return None
    return VENDOR_NAMES.get((zero["ebx"], zero["edx"], zero["ecx"]))


# --------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------

def readable(row, leaves):
    """Whether the guest can read the row's leaf at all (below its range's limit)."""
    if row.leaf >= 0x40000000 and row.leaf < 0x80000000:
        return key(row.leaf, row.subleaf) in leaves
    limit = leaves.get(key(row.leaf & 0x80000000, 0), {}).get("eax", 0)
    return row.leaf <= limit and key(row.leaf, row.subleaf) in leaves


def compare_table(rows, leaves, causes):
    """Rows with ``cause`` in ``causes`` that the guest read differently: [(row, read)].

    Rows for the other vendor are skipped: their leaves exist but carry
    whatever that vendor's guests ignore.
    """
    vendor = vendor_of(leaves)
    mismatches = []
    for row in rows:
        if row.cause not in causes or row.vendor not in (None, vendor):
            continue
        if not readable(row, leaves):
            mismatches.append((row, None))
            continue
        read = row.extract(leaves[key(row.leaf, row.subleaf)][row.register])
        if read != row.value:
            mismatches.append((row, read))
    return mismatches


def expected_difference(rows_a, rows_b):
    """Per (leaf/sub, register): the bits the two tables say differ."""
    values_b = {(key(r.leaf, r.subleaf), r.register, r.high, r.low): r.value for r in rows_b}
    masks = {}
    for row in rows_a:
        slot = (key(row.leaf, row.subleaf), row.register, row.high, row.low)
        if slot in values_b and values_b[slot] != row.value:
            mask = ((values_b[slot] ^ row.value) << row.low) & row.mask
            masks[(slot[0], slot[1])] = masks.get((slot[0], slot[1]), 0) | mask
    return masks


def measured_difference(leaves_a, leaves_b):
    masks = {}
    for slot in sorted(set(leaves_a) | set(leaves_b)):
        for register in REGISTERS:
            value_a = leaves_a.get(slot, {}).get(register)
            value_b = leaves_b.get(slot, {}).get(register)
            if value_a != value_b:
                masks[(slot, register)] = (value_a or 0) ^ (value_b or 0)
    return masks


def describe(masks):
    return {"%s %s" % slot: "0x%08X" % mask for slot, mask in sorted(masks.items())}


# --------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------

GRANTED = {"granted": True, "reasons": []}


def denied(code, message):
    return {"granted": False, "reasons": [{"code": code, "message": message}]}


def statements(**granted):
    """Engine-shaped statements: the named ones granted, the rest denied with a reason."""
    data = {}
    for name in ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated"):
        data[name] = GRANTED if granted.get(name) else denied(
            "test_denied", "denied by the cpuid_kvm test case")
    return data


#: Two cores, one thread each: every vendor shows it without TOPOEXT.
FLAT = {"sockets": 1, "dies": 1, "cores": 2, "threads": 1}
SMT = {"sockets": 1, "dies": 1, "cores": 2, "threads": 2}
DIES = {"sockets": 1, "dies": 2, "cores": 3, "threads": 2}


def document_text(data, host="cpuid-kvm"):
    """The encoded statement document for engine-shaped statements (fixed issue time)."""
    sd = document_module()
    return sd.encode_document(sd.build_document(sd.statements_from_data(data), host, None,
                                                "2026-11-25T05:00:00Z"))


def check_fw_cfg(check, name, read, text):
    """The guest printed the fw_cfg file and it is ``text``'s document; or no file for None."""
    if text is None:
        check("%s: without the document the guest finds no fw_cfg file (FWCFG-NONE)" % name,
              read["state"] == "none", "guest printed: %r" % read)
        return
    sd = document_module()
    want = sd.parse_document(text).to_dict()
    check("%s: the guest read %s over fw_cfg I/O ports and it parses to the rendered document"
          % (name, sd.FW_CFG_NAME),
          read["state"] == "file" and read["content"] == sd.fw_cfg_content(text)
          and read["document"] == want,
          "guest printed: state %s, %s bytes, parsed %s; error %s; want %s"
          % (read["state"], read["size"], read["document"], read["error"], want))


class Runner:
    def __init__(self, workdir, firmware="loader"):
        if firmware not in BOOT_TIMEOUT:
            raise ProbeError("firmware: expected one of %s, got %r" % (", ".join(BOOT_TIMEOUT), firmware))
        self.binary = require_qemu_and_kvm()
        self.version = qemu_version(self.binary)
        self.workdir = workdir
        self.firmware = firmware
        self.images = write_images(workdir)
        self.cpuid = cpuid_module()
        self.runs = {}

    def settings(self, statement_data, topology, hyperv=False, vendor=None, request=None):
        cpuid = self.cpuid
        return cpuid.plan_cpuid(cpuid.statements_from_data(statement_data),
                                cpuid.topology_from_data(topology),
                                hyperv=hyperv, vendor=vendor, request=request)

    def run(self, name, settings, accel="kvm", cpu_model="host", extra=HOST_QUIRK_FLAGS,
            enforce=True, document=None):
        """Boot with the rendered CPU arguments, and the document's -fw_cfg/-smbios if given."""
        arguments = self.cpuid.qemu_arguments(settings, self.version, cpu_model=cpu_model,
                                              extra_cpu_flags=extra, enforce=enforce)
        if document is not None:
            arguments += document_module().qemu_arguments(document)
        result = boot(self.binary, self.images[self.firmware], self.firmware, accel, arguments,
                      self.workdir, name)
        result["arguments"] = arguments
        result["table"] = self.cpuid.cpuid_table(settings)
        self.runs[name] = result
        return result


def run_all(workdir, firmware="loader"):
    """Boot every case and return a JSON-able report with one verdict per check."""
    runner = Runner(workdir, firmware)
    cpuid = runner.cpuid
    checks = []

    def check(name, ok, detail):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    def finished(result):
        check("%s: guest ran to isa-debug-exit" % result["name"], result["finished"],
              "exit status %s (want %d); stderr: %s"
              % (result["exit_status"], cpuid_payload.EXIT_STATUS, result["stderr"] or "-"))
        return result["finished"]

    # Baseline and (a) dedicated granted, (b) dedicated denied: same topology.
    baseline = runner.run("baseline", runner.settings(statements(), FLAT))
    vendor = vendor_of(baseline["leaves"]) if finished(baseline) else None
    check("baseline: CPU vendor recognised from leaf 0", vendor is not None,
          "vendor %r (the table's vendor rows need GenuineIntel or AuthenticAMD)" % vendor)
    # The two cases also get their statement document by -fw_cfg, as the qemu_args
    # backend writes it; the guest reads it back over fw_cfg's I/O ports.
    granted_data = statements(dedicated=True, accurate_topology=True)
    refused_data = statements(accurate_topology=True, no_nonarch_core_sharing=True)
    granted = runner.run("dedicated_granted", runner.settings(granted_data, FLAT, vendor=vendor),
                         document=document_text(granted_data))
    refused = runner.run("dedicated_denied", runner.settings(refused_data, FLAT, vendor=vendor),
                         document=document_text(refused_data))
    for result, data in ((granted, granted_data), (refused, refused_data)):
        if result["finished"]:
            check_fw_cfg(check, result["name"], result["fw_cfg"], document_text(data))
    if baseline["finished"]:
        check_fw_cfg(check, "baseline", baseline["fw_cfg"], None)
    if finished(granted) and finished(refused) and vendor:
        for result, want in ((granted, 1), (refused, 0), (baseline, 0)):
            edx = result["leaves"].get(key(0x40000001, 0), {}).get("edx")
            check("%s: 0x40000001 EDX bit 0 (KVM_HINTS_REALTIME) is %d" % (result["name"], want),
                  edx is not None and edx & 1 == want,
                  "EDX=%s; -cpu %s" % ("missing" if edx is None else "0x%08X" % edx,
                                       result["arguments"][3]))
            check("%s: QEMU applied kvm-hint-dedicated=%s" % (result["name"], bool(want)),
                  result["properties"].get("kvm-hint-dedicated") is bool(want),
                  "qom-get: %r" % result["properties"].get("kvm-hint-dedicated"))
            bad = compare_table(result["table"], result["leaves"], ("kvm", "dedicated", "topology"))
            check("%s: every KVM and topology row of the CPUID table matches the guest"
                  % result["name"], not bad, _mismatch_text(bad))
        base_table = cpuid.cpuid_table(runner.settings(statements(), FLAT, vendor=vendor))
        for result in (granted, refused):
            want = expected_difference(result["table"], base_table)
            got = measured_difference(result["leaves"], baseline["leaves"])
            check("%s: bits changed against the baseline are exactly the table's"
                  % result["name"], want == got,
                  "table says %s, guest shows %s" % (describe(want), describe(got)))

    # Hyper-V: no_nonarch_core_sharing granted to a guest that opted in.
    hv = runner.run("nonarch_hyperv", runner.settings(
        statements(no_nonarch_core_sharing=True, accurate_topology=True, dedicated=True),
        FLAT, hyperv=True, vendor=vendor))
    if finished(hv):
        props = hv["properties"]
        check("nonarch_hyperv: QEMU accepted and applied hv-no-nonarch-coresharing=on",
              props.get("hv-no-nonarch-coresharing") == "on" and props.get("hv-relaxed") is True,
              "qom-get: %r; -cpu %s" % (props, hv["arguments"][3]))
        signature = hv["leaves"].get(key(0x40000000, 0), {})
        readback = (signature.get("ebx"), signature.get("ecx"), signature.get("edx")) == \
            cpuid.HYPERV_SIGNATURE
        capable = kvm_has_hyperv()
        rows = [row.to_dict() for row in hv["table"]
                if row.cause in ("hyperv", "no_nonarch_core_sharing")]
        if capable:
            bad = compare_table(hv["table"], hv["leaves"],
                                ("hyperv", "no_nonarch_core_sharing", "dedicated"))
            check("nonarch_hyperv: Hyper-V leaves read back and match the table",
                  readback and not bad,
                  "KVM_CAP_HYPERV > 0; Hyper-V signature %s; %s"
                  % ("found" if readback else "MISSING", _mismatch_text(bad)))
        else:
            check("nonarch_hyperv: Hyper-V leaves NOT readable on this host (KVM_CAP_HYPERV=0): "
                  "QEMU accepted the property; the table says the guest would read "
                  "0x40000004 EAX bit 18 = 1",
                  not readback and any(r["leaf"] == "0x40000004" and r["bits"] == "18"
                                       and r["value"] == 1 for r in rows),
                  "QEMU builds Hyper-V leaves only when KVM has KVM_CAP_HYPERV; here it is 0 "
                  "and 0x40000000 reads KVM's signature, so bit 18 cannot be read back. "
                  "The table says a guest there reads: %s" % "; ".join(
                      "%s %s[%s]=0x%X (%s)" % (r["leaf"], r["register"].upper(), r["bits"],
                                               r["value"], r["cause"]) for r in rows))
        kvm_at = key(0x40000101 if readback else 0x40000001, 0)
        edx = hv["leaves"].get(kvm_at, {}).get("edx")
        check("nonarch_hyperv: KVM_HINTS_REALTIME set at %s EDX bit 0" % kvm_at.split("/")[0],
              edx is not None and edx & 1 == 1, "EDX=%r" % edx)

    # Topology with SMT. QEMU does not turn TOPOEXT on for -cpu host by itself, and
    # without it an AMD guest sees no siblings: the renderer adds topoext=on with
    # enforce, so QEMU either shows the threads or refuses to start.
    smt = runner.run("smt", runner.settings(statements(accurate_topology=True), SMT, vendor=vendor))
    if vendor == "AuthenticAMD" and smt["exit_status"] != cpuid_payload.EXIT_STATUS:
        check("smt: QEMU refused loudly because this host cannot give TOPOEXT",
              "topoext" in smt["stderr"], "stderr: %s" % smt["stderr"])
    elif finished(smt):
        if vendor == "AuthenticAMD":
            ecx = smt["leaves"].get(key(0x80000001, 0), {}).get("ecx", 0)
            base_ecx = baseline["leaves"].get(key(0x80000001, 0), {}).get("ecx", 0)
            check("smt: the AMD guest sees TOPOEXT (0x80000001 ECX bit 22), so it reads its "
                  "threads from 0x8000001E", ecx & (1 << 22),
                  "with topoext=on: ECX=0x%08X; -cpu host alone (baseline): ECX=0x%08X"
                  % (ecx, base_ecx))
        bad = compare_table(smt["table"], smt["leaves"], ("topology",))
        check("smt: topology rows match the guest (%s)" % smt["arguments"][1],
              not bad, _mismatch_text(bad))

    # Intel-vendor topology with dies (0x1F) under TCG: the same QEMU function builds it.
    intel = runner.settings(statements(), DIES, vendor="GenuineIntel")
    tcg = runner.run("intel_dies_tcg", intel, accel="tcg", cpu_model="max",
                     extra=("vendor=GenuineIntel",), enforce=False)
    if finished(tcg):
        bad = compare_table(tcg["table"], tcg["leaves"], ("topology",))
        check("intel_dies_tcg: topology rows incl. 0x1F match the guest (%s)" % tcg["arguments"][1],
              not bad, _mismatch_text(bad))

    for result in runner.runs.values():
        result["table"] = [row.to_dict() for row in result["table"]]
        result["leaves"] = {slot: {reg: "0x%08X" % value for reg, value in regs.items()}
                            for slot, regs in result["leaves"].items()}
    return {
        "qemu_version": runner.version,
        "firmware": firmware,
        "vendor": vendor,
        "hyperv_readable": kvm_has_hyperv(),
        "runs": runner.runs,
        "checks": checks,
        "ok": all(c["ok"] for c in checks) and bool(checks),
    }


# --------------------------------------------------------------------------
# The same cases through libvirt
# --------------------------------------------------------------------------

LIBVIRT_URI = "qemu:///system"
LIBVIRT_PREFIX = "hvfleet-cpuid-"
LIBVIRT_BOOT_TIMEOUT = 180
#: QEMU under libvirt runs as libvirt-qemu and must reach the image and serial
#: file through every parent directory; Molecule's and pytest's temp dirs are
#: private, so the libvirt pass works here and copies its logs back.
LIBVIRT_DIR = "/var/tmp/hvfleet-cpuid-kvm"
#: A transient domain with the boot sector on IDE and COM1 in a file. The payload's
#: isa-debug-exit write goes nowhere under libvirt, so the guest halts and the
#: probe destroys it once END is on the serial port. arch-capabilities is
#: disabled for the same nested-KVM quirk as HOST_QUIRK_FLAGS.
LIBVIRT_DOMAIN = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='KiB'>16384</memory>
  <vcpu placement='static'>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough'><feature policy='disable' name='arch-capabilities'/></cpu>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='{image}'/><target dev='hda' bus='ide'/></disk>
    <serial type='file'><source path='{serial}'/></serial>
  </devices>
</domain>
"""


def virsh(*arguments, check=True):
    binary = shutil.which("virsh")
    if binary is None:
        raise ProbeError("virsh not found: install libvirt-clients (hack/apt-packages.txt)")
    result = subprocess.run([binary, "-c", LIBVIRT_URI] + list(arguments), capture_output=True,
                            text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise ProbeError("virsh %s: %s" % (" ".join(arguments), result.stderr.strip()))
    return result


def libvirt_boot(name, domain_xml, serial):
    """Start a transient domain, wait for END on COM1, read its QEMU command line, destroy it."""
    if os.path.exists(serial):
        os.unlink(serial)
    path = serial + ".xml"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(domain_xml)
    started = time.monotonic()
    created = virsh("create", path, check=False)
    result = {"name": name, "started": created.returncode == 0, "error": created.stderr.strip(),
              "cmdline": [], "finished": False, "leaves": {}, "fw_cfg": read_fw_cfg("")}
    if not result["started"]:
        return result
    try:
        pidfile = "/run/libvirt/qemu/%s.pid" % name
        with open(pidfile, encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            result["cmdline"] = [part.decode() for part in handle.read().split(b"\x00") if part]
        deadline = started + LIBVIRT_BOOT_TIMEOUT
        output = ""
        while time.monotonic() < deadline:
            if os.path.exists(serial):
                with open(serial, encoding="ascii", errors="replace") as handle:
                    output = handle.read()
                if "END" in output:
                    break
            time.sleep(0.5)
        result["finished"] = "END" in output
        result["leaves"] = parse_serial(output)
        result["fw_cfg"] = read_fw_cfg(output)
        result["seconds"] = round(time.monotonic() - started, 2)
        result["tainted"] = "tainted" in virsh("dominfo", name, check=False).stdout.lower() or \
            _log_says_tainted(name)
    finally:
        virsh("destroy", name, check=False)
    return result


def clean_libvirt():
    """Destroy transient hvfleet-cpuid-* domains a killed run left behind; only those."""
    listed = virsh("list", "--name", check=False)
    if listed.returncode != 0:
        return {"changed": False, "destroyed": [], "note": listed.stderr.strip()}
    destroyed = []
    for name in listed.stdout.split():
        if name.startswith(LIBVIRT_PREFIX) and virsh("destroy", name, check=False).returncode == 0:
            destroyed.append(name)
    shutil.rmtree(LIBVIRT_DIR, ignore_errors=True)
    return {"changed": bool(destroyed), "destroyed": destroyed}


def _log_says_tainted(name):
    try:
        with open("/var/log/libvirt/qemu/%s.log" % name, encoding="utf-8", errors="replace") as handle:
            return "tainted: custom-argv" in handle.read()[-4000:]
    except OSError:
        return False


def run_libvirt(workdir):
    """Render domain XML for three cases, boot each through libvirtd and check what it read."""
    shutil.rmtree(LIBVIRT_DIR, ignore_errors=True)
    os.makedirs(LIBVIRT_DIR, mode=0o755)
    os.chmod(LIBVIRT_DIR, 0o755)
    try:
        return _run_libvirt(workdir)
    finally:
        for name in sorted(os.listdir(LIBVIRT_DIR)):
            if name.endswith((".serial", ".xml")):
                shutil.copy(os.path.join(LIBVIRT_DIR, name), workdir)
        shutil.rmtree(LIBVIRT_DIR, ignore_errors=True)


def _run_libvirt(workdir):
    binary = require_qemu_and_kvm()
    images = write_images(LIBVIRT_DIR)
    cpuid = cpuid_module()
    from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd

    version = virsh("version", "--daemon").stdout
    match = re.search(r"Running against daemon: (\d+\.\d+\.\d+)", version) or \
        re.search(r"library: libvirt (\d+\.\d+\.\d+)", version)
    if not match:
        raise ProbeError("cannot read the libvirt version from %r (is libvirtd running?)" % version)
    libvirt_version = match.group(1)
    checks = []
    runs = {}

    def check(name, ok, detail):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    cases = (
        ("dedicated_granted", statements(dedicated=True, accurate_topology=True), False),
        ("dedicated_denied", statements(accurate_topology=True), False),
        ("nonarch_hyperv", statements(no_nonarch_core_sharing=True, dedicated=True), True),
    )
    for case, data, hyperv in cases:
        name = LIBVIRT_PREFIX + case.replace("_", "-")
        parsed = cpuid.statements_from_data(data)
        settings = cpuid.plan_cpuid(parsed, cpuid.topology_from_data(FLAT), hyperv=hyperv)
        text = sd.encode_document(sd.build_document(parsed, "cpuid-kvm", None,
                                                    "2026-11-25T05:00:00Z"))
        fw_cfg, oem = sd.libvirt_entries(text)
        changes = cpuid.libvirt_changes(settings, libvirt_version, fw_cfg, oem)
        serial = os.path.join(LIBVIRT_DIR, "%s.serial" % name)
        base = LIBVIRT_DOMAIN.format(name=name, vcpus=settings.topology.vcpus,
                                     image=images["seabios"], serial=serial)
        update = cpuid.apply_libvirt_changes(base, changes)
        result = libvirt_boot(name, update.xml, serial)
        result["domain_xml"] = update.xml
        result["changes"] = changes.to_dict()
        runs[case] = result
        check("libvirt %s: libvirtd started the rendered domain and the payload finished" % case,
              result["started"] and result["finished"],
              "started=%s finished=%s %s" % (result["started"], result["finished"], result["error"]))
        if not result["finished"]:
            continue
        check_fw_cfg(check, "libvirt %s" % case, result["fw_cfg"], text)
        kvm_features = 0x40000101 if hyperv and kvm_has_hyperv() else 0x40000001
        edx = result["leaves"].get(key(kvm_features, 0), {}).get("edx")
        want = int(case != "dedicated_denied")
        check("libvirt %s: 0x%08X EDX bit 0 is %d" % (case, kvm_features, want),
              edx is not None and edx & 1 == want, "EDX=%r" % edx)
        line = result["cmdline"]
        fw_cfg_args = [line[i + 1] for i, arg in enumerate(line[:-1]) if arg == "-fw_cfg"]
        smbios_args = [line[i + 1] for i, arg in enumerate(line[:-1]) if arg == "-smbios"]
        fw_ok = False
        for arg in fw_cfg_args:
            if arg.startswith("name=%s,string=" % sd.FW_CFG_NAME):
                fw_ok = sd.parse_document(sd.document_from_fw_cfg(
                    arg.split("string=", 1)[1])) == sd.parse_document(text)
        oem_ok = any(arg.replace(",,", ",").endswith(sd.oem_string(text)) for arg in smbios_args)
        check("libvirt %s: QEMU got the document by -fw_cfg (base64) and -smbios type=11" % case,
              fw_ok and oem_ok, "fw_cfg args %r; smbios args %r" % (fw_cfg_args, smbios_args))
        nonarch = "x86_64-cpu.hv-no-nonarch-coresharing=on" in line
        check("libvirt %s: -global hv-no-nonarch-coresharing=on exactly when granted to a "
              "Hyper-V guest; libvirt marks the domain tainted then" % case,
              nonarch == hyperv and (not hyperv or result["tainted"]),
              "-global present=%s, tainted=%s" % (nonarch, result["tainted"]))
    if runs.get("dedicated_granted", {}).get("finished") and \
            runs.get("dedicated_denied", {}).get("finished"):
        got = measured_difference(runs["dedicated_granted"]["leaves"],
                                  runs["dedicated_denied"]["leaves"])
        check("libvirt: granted vs denied differ only in 0x40000001 EDX bit 0",
              got == {(key(0x40000001, 0), "edx"): 1}, "differences: %s" % describe(got))
    for result in runs.values():
        result["leaves"] = {slot: {reg: "0x%08X" % value for reg, value in regs.items()}
                            for slot, regs in result["leaves"].items()}
    return {"libvirt_version": libvirt_version, "qemu": binary, "runs": runs, "checks": checks,
            "ok": bool(checks) and all(c["ok"] for c in checks)}


def _mismatch_text(mismatches):
    if not mismatches:
        return "all rows match"
    return "; ".join("%s/%s %s[%d:%d]: table 0x%X, guest %s" % (
        "0x%08X" % row.leaf, row.subleaf or 0, row.register, row.high, row.low, row.value,
        "cannot read the leaf" if read is None else "0x%X" % read) for row, read in mismatches)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="boot every case and check it")
    run.add_argument("--workdir", help="where images and serial logs go (default: a temp dir)")
    run.add_argument("--firmware", choices=sorted(BOOT_TIMEOUT), default="loader")
    run.add_argument("--output", help="write the JSON report here instead of stdout")
    through = sub.add_parser("run-libvirt", help="the same through a running libvirtd")
    through.add_argument("--workdir")
    through.add_argument("--output")
    sub.add_parser("clean-libvirt", help="destroy leftover hvfleet-cpuid-* domains (JSON out)")
    serial = sub.add_parser("read-serial", help="what a payload's serial log says (JSON out)")
    serial.add_argument("log")
    args = parser.parse_args(argv)
    if args.command == "read-serial":
        try:
            print(json.dumps(read_serial(args.log), indent=2, sort_keys=True))
        except OSError as exc:
            print("cpuid_probe: cannot read the serial log %s: %s" % (args.log, exc.strerror),
                  file=sys.stderr)
            return 2
        return 0
    if args.command == "clean-libvirt":
        try:
            print(json.dumps(clean_libvirt()))
        except ProbeError as exc:
            print(json.dumps({"changed": False, "destroyed": [], "note": str(exc)}))
        return 0
    workdir = args.workdir or tempfile.mkdtemp(prefix="cpuid-probe-")
    os.makedirs(workdir, exist_ok=True)
    try:
        if args.command == "run-libvirt":
            report = run_libvirt(workdir)
        else:
            report = run_all(workdir, args.firmware)
    except ProbeError as exc:
        print("cpuid_probe: %s" % exc, file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2, sort_keys=True)
    if args.output:
        with open(args.output + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(args.output + ".tmp", args.output)
    else:
        print(text)
    for item in report["checks"]:
        print("%s %s" % ("PASS" if item["ok"] else "FAIL", item["name"]), file=sys.stderr)
        if not item["ok"] or "NOT readable" in item["name"]:
            print("     %s" % item["detail"], file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
