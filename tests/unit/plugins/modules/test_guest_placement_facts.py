"""guest_placement_facts as a module process, against a stand-in virsh and a fixture /proc.

The stand-in ``virsh`` serves the XML captured from real libvirt (no libvirt
mocks inside the module: it runs exactly the argv it would run for real), and
the sysroot holds a copy of the captured QEMU processes' ``/proc`` entries.
The real thing is exercised by the ``libvirt`` Molecule scenario.
"""

import json
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "module_utils" / "fixtures" / "libvirt"
NAMES = ("hvfleet-test-defined", "hvfleet-test-floating", "hvfleet-test-iothreads", "hvfleet-test-pinned")

FAKE_VIRSH = r'''
import json, os, sys
data = json.load(open(os.environ["FAKE_VIRSH_DATA"]))
with open(os.environ["FAKE_VIRSH_DATA"] + ".log", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
if data.get("unreachable"):
    sys.stderr.write("error: failed to connect to the hypervisor\nerror: Failed to connect socket to "
                     "'/run/libvirt/libvirt-sock-ro': No such file or directory\n")
    sys.exit(1)
assert args[:3] == ["-r", "-c", data["uri"]], args
cmd = args[3:]
def domain():
    name = cmd[cmd.index("--domain") + 1]
    if name not in data["domains"]:
        sys.stderr.write("error: failed to get domain '%s'\n" % name)
        sys.exit(1)
    return data["domains"][name]
if cmd == ["list", "--all", "--name"]:
    print("\n".join(data["domains"]) + "\n")
elif cmd[0] == "dominfo":
    d = domain()
    print("Id:             %s\nName:           x\nState:          %s\nPersistent:     yes\n" % (d["id"], d["state"]))
elif cmd[0] == "dumpxml":
    d = domain()
    sys.stdout.write(d["inactive"] if "--inactive" in cmd or d["live"] is None else d["live"])
else:
    sys.exit("unexpected virsh call %r" % cmd)
'''


@pytest.fixture
def fake_virsh(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "virsh"
    script.write_text("#!%s\n%s" % (sys.executable, FAKE_VIRSH))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, "/usr/bin:/bin"))
    data_file = tmp_path / "virsh.json"
    monkeypatch.setenv("FAKE_VIRSH_DATA", str(data_file))

    def configure(domains=NAMES, uri="qemu:///system", unreachable=False, edit=None):
        served = {}
        for name in domains:
            live = FIXTURES / ("%s.live.xml" % name)
            entry = {
                "id": "7" if live.exists() else "-",
                "state": "running" if live.exists() else "shut off",
                "live": live.read_text() if live.exists() else None,
                "inactive": (FIXTURES / ("%s.inactive.xml" % name)).read_text(),
            }
            if edit:
                edit(name, entry)
            served[name] = entry
        data_file.write_text(json.dumps({"uri": uri, "domains": served, "unreachable": unreachable}))

        def calls():
            log = Path(str(data_file) + ".log")
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return calls
    return configure


def sysroot_with_qemu(write_tree, root, extra=None, skip_threads_of=()):
    files = {"sys/devices/system/cpu/online": "0-1\n", "sys/devices/system/cpu/isolated": "\n",
             "proc/1/cmdline": "/sbin/init\0"}
    for path in FIXTURES.glob("*.threads.json"):
        if path.name.split(".")[0] in skip_threads_of:
            continue
        data = json.loads(path.read_text())
        pid = data["pid"]
        files["proc/%d/cmdline" % pid] = "\0".join(data["cmdline"]) + "\0"
        for thread in data["threads"]:
            files["proc/%d/task/%d/comm" % (pid, thread["tid"])] = thread["comm"] + "\n"
            files["proc/%d/task/%d/status" % (pid, thread["tid"])] = "\n".join(thread["status"]) + "\n"
    files.update(extra or {})
    return write_tree(root, files)


def placement(result):
    assert not result.get("failed"), result.get("msg")
    return result["ansible_facts"]["hvfleet_placement"]


def by_name(facts):
    return {g["name"]: g for g in facts["guests"]}


def test_every_domain_with_real_thread_affinities(run_module, write_tree, fake_virsh, tmp_path):
    calls = fake_virsh()
    result = run_module("guest_placement_facts", backend="virsh",
                        sysroot=sysroot_with_qemu(write_tree, tmp_path / "root"))
    facts = placement(result)
    assert result["changed"] is False
    assert facts["schema"] == 1 and facts["backend"] == "virsh" and facts["uri"] == "qemu:///system"
    assert [g["name"] for g in facts["guests"]] == sorted(NAMES)
    guests = by_name(facts)
    pinned = guests["hvfleet-test-pinned"]
    assert pinned["source"] == "live" and pinned["qemu_pid"] is not None
    assert pinned["vcpus"] == [[1], [0]] and pinned["emulator"] == [0]
    assert guests["hvfleet-test-iothreads"]["iothreads"] == [[0], [1]]
    assert guests["hvfleet-test-floating"]["vcpus"] == [[0, 1], [0, 1]]
    defined = guests["hvfleet-test-defined"]
    assert defined["state"] == "shut off" and defined["source"] == "config"
    assert all(g["disagreements"] == [] for g in facts["guests"])
    # read-only virsh, argv lists, --domain before every name
    assert all(call[:3] == ["-r", "-c", "qemu:///system"] for call in calls())
    assert ["-r", "-c", "qemu:///system", "dumpxml", "--inactive", "--domain", "hvfleet-test-pinned"] in calls()


def test_housekeeping_from_cgroup_v2_and_isolcpus(run_module, write_tree, fake_virsh, tmp_path):
    fake_virsh(domains=())
    cg = "sys/fs/cgroup/%s/cpuset.cpus.effective"
    root = sysroot_with_qemu(write_tree, tmp_path / "root", extra={
        "sys/devices/system/cpu/online": "0-7\n",
        "sys/devices/system/cpu/isolated": "2-7\n",
        cg % "system.slice": "0-1\n", cg % "user.slice": "0-1\n", cg % "init.scope": "0\n",
    })
    facts = placement(run_module("guest_placement_facts", backend="virsh", sysroot=root))
    assert facts["guests"] == []
    assert facts["housekeeping"] == [0, 1]
    assert "2-7 isolated" in facts["housekeeping_source"]
    assert facts["housekeeping_detail"]["units"][2] == {
        "unit": "init.scope", "cpus": [0], "source": "cgroup /sys/fs/cgroup/init.scope/cpuset.cpus.effective"}


def test_housekeeping_from_systemd_dropins_without_systemd(run_module, write_tree, fake_virsh, tmp_path):
    """What the smt_host role writes is what this module reads on a host without systemd running."""
    fake_virsh(domains=())
    extra = {"sys/devices/system/cpu/online": "0-3\n", "sys/devices/system/cpu/isolated": "2-3\n"}
    for unit, section in (("system.slice", "Slice"), ("user.slice", "Slice"), ("init.scope", "Scope")):
        extra["etc/systemd/system/%s.d/50-hvfleet-housekeeping.conf" % unit] = "[%s]\nAllowedCPUs=0-1\n" % section
    root = sysroot_with_qemu(write_tree, tmp_path / "root", extra=extra)
    facts = placement(run_module("guest_placement_facts", backend="virsh", sysroot=root))
    assert facts["housekeeping"] == [0, 1]
    assert "50-hvfleet-housekeeping.conf" in facts["housekeeping_detail"]["units"][0]["source"]


def test_check_mode_reports_the_same(run_module, write_tree, fake_virsh, tmp_path):
    fake_virsh(domains=("hvfleet-test-pinned",))
    root = sysroot_with_qemu(write_tree, tmp_path / "root")
    facts = placement(run_module("guest_placement_facts", check_mode=True, backend="virsh", sysroot=root))
    assert by_name(facts)["hvfleet-test-pinned"]["vcpus"] == [[1], [0]]


def test_domains_option_limits_the_report(run_module, write_tree, fake_virsh, tmp_path):
    calls = fake_virsh()
    root = sysroot_with_qemu(write_tree, tmp_path / "root")
    facts = placement(run_module("guest_placement_facts", backend="virsh", sysroot=root,
                                 domains=["hvfleet-test-iothreads"]))
    assert [g["name"] for g in facts["guests"]] == ["hvfleet-test-iothreads"]
    assert not any("list" in call for call in calls())


def test_unknown_domain_fails_naming_it(run_module, write_tree, fake_virsh, tmp_path):
    fake_virsh()
    result = run_module("guest_placement_facts", backend="virsh", domains=["db-9"],
                        sysroot=sysroot_with_qemu(write_tree, tmp_path / "root"))
    assert result["failed"] is True and "'db-9' is not defined at qemu:///system" in result["msg"]


def test_libvirt_unreachable_fails_naming_the_uri(run_module, write_tree, fake_virsh, tmp_path):
    fake_virsh(uri="qemu+ssh://h/system", unreachable=True)
    result = run_module("guest_placement_facts", backend="virsh", uri="qemu+ssh://h/system",
                        sysroot=sysroot_with_qemu(write_tree, tmp_path / "root"))
    assert result["failed"] is True
    assert "cannot reach libvirt at qemu+ssh://h/system" in result["msg"] and "Failed to connect" in result["msg"]


def test_malformed_domain_xml_fails_naming_the_domain(run_module, write_tree, fake_virsh, tmp_path):
    def break_pin(name, entry):
        if name == "hvfleet-test-iothreads":
            entry["live"] = entry["live"].replace("iothreadpin iothread='1' cpuset='0'", "iothreadpin iothread='1' cpuset='zero'")
    fake_virsh(edit=break_pin)
    result = run_module("guest_placement_facts", backend="virsh",
                        sysroot=sysroot_with_qemu(write_tree, tmp_path / "root"))
    assert result["failed"] is True
    assert result["msg"].startswith("domain hvfleet-test-iothreads: ") and "'zero'" in result["msg"]
    assert result["domain"] == "hvfleet-test-iothreads"


def test_running_domain_without_a_qemu_process_uses_its_definition(run_module, write_tree, fake_virsh, tmp_path):
    fake_virsh(domains=("hvfleet-test-pinned",))
    root = sysroot_with_qemu(write_tree, tmp_path / "root", skip_threads_of=("hvfleet-test-pinned",))
    guest = by_name(placement(run_module("guest_placement_facts", backend="virsh", sysroot=root)))["hvfleet-test-pinned"]
    assert guest["source"] == "live_definition" and guest["vcpus"] == [[1], [0]]
    assert guest["disagreements"][0]["code"] == "threads_unread"
    assert "-uuid" in guest["disagreements"][0]["message"]


def test_drifted_thread_affinity_wins_over_the_definition(run_module, write_tree, fake_virsh, tmp_path):
    fake_virsh(domains=("hvfleet-test-pinned",))
    data = json.loads((FIXTURES / "hvfleet-test-pinned.threads.json").read_text())
    vcpu0 = next(t for t in data["threads"] if t["comm"] == "CPU 0/KVM")
    extra = {"proc/%d/task/%d/status" % (data["pid"], vcpu0["tid"]): "Name:\tCPU 0/KVM\nCpus_allowed_list:\t0-1\n"}
    root = sysroot_with_qemu(write_tree, tmp_path / "root", extra=extra)
    guest = by_name(placement(run_module("guest_placement_facts", backend="virsh", sysroot=root)))["hvfleet-test-pinned"]
    assert guest["vcpus"] == [[0, 1], [0]]
    assert [d["code"] for d in guest["disagreements"]] == ["vcpu_affinity_differs"]


def test_malformed_online_file_fails_naming_it(run_module, write_tree, fake_virsh, tmp_path):
    fake_virsh()
    root = sysroot_with_qemu(write_tree, tmp_path / "root", extra={"sys/devices/system/cpu/online": "0-\n"})
    result = run_module("guest_placement_facts", backend="virsh", sysroot=root)
    assert result["failed"] is True and result["path"].endswith("sys/devices/system/cpu/online")
    assert "'0-'" in result["msg"]


def test_missing_sysroot_fails(run_module, fake_virsh, tmp_path):
    fake_virsh()
    result = run_module("guest_placement_facts", backend="virsh", sysroot=str(tmp_path / "nope"))
    assert result["failed"] is True and "sysroot" in result["msg"]
