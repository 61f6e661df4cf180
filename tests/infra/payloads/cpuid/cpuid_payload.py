"""Write a 512-byte real-mode boot sector that prints CPUID leaves to COM1 and exits QEMU.

The hypervisor leaves are the whole point of the CPUID renderers, and the only
way to know what a guest really reads is to execute ``cpuid`` inside one. A
boot sector runs under the restricted nested KVM of CI machines (a Linux
kernel does not), starts in milliseconds, and needs no disk image or guest
tools, so the regression test can run in the unit suite.

Output, one line per queried (leaf, sub-leaf), then ``END``::

    C 40000001 00000000 01007AFB 00000000 00000000 00000001

fields: leaf, sub-leaf, EAX, EBX, ECX, EDX in hex. After the table it reads
the fw_cfg file directory over the legacy I/O ports (QEMU docs/specs/fw_cfg.rst:
selector 0x510, 16-bit, little-endian on port I/O; data 0x511, 8-bit; the
directory's count, sizes and selectors big-endian) and prints the file
``FW_CFG_FILE`` (the statement document, base64) in hex, one of::

    FWCFG-BEGIN 000002A8          the file's size from the directory
    65794A6D623...                its bytes, two hex digits each, one line
    FWCFG-DONE

    FWCFG-NONE                    fw_cfg is there, the file is not
    FWCFG-NODEV                   no fw_cfg: the signature (key 0) is not "QEMU"

Hex, so that no byte of the file can end the section or look like ``END``.
The payload then writes
``EXIT_VALUE`` to an ``isa-debug-exit`` device at ``0xf4``, so QEMU exits with
status ``(EXIT_VALUE << 1) | 1`` = 85: a run that ends any other way did not
finish the table.

The code is encoded by hand with the label/fixup assembler of
``../bootsector.py`` (extended here by a 16-bit relative ``call``), so no
assembler package is needed.

Usage: python3 cpuid_payload.py OUTPUT [--size BYTES | --firmware]
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from bootsector import LOAD_ADDRESS, SECTOR, SIGNATURE, COM1, Assembler  # noqa: E402

sys.path.pop(0)

#: (leaf, sub-leaf) pairs the payload queries, in output order.
#: 0x40000000-06: the first hypervisor range (KVM's, or Hyper-V's when any
#: hv-* enlightenment is on); 0x40000100-06: where KVM's leaves move then.
#: The basic and extended leaves carry the topology a guest derives.
QUERIES = (
    tuple((0x40000000 + n, 0) for n in range(7))
    + tuple((0x40000100 + n, 0) for n in range(7))
    + (
        (0x0, 0), (0x1, 0), (0x4, 0), (0xB, 0), (0xB, 1),
        (0x1F, 0), (0x1F, 1), (0x1F, 2),
        (0x80000000, 0), (0x80000001, 0), (0x80000008, 0), (0x8000001E, 0),
    )
)
DEBUG_EXIT_PORT = 0xF4
EXIT_VALUE = 0x2A
EXIT_STATUS = (EXIT_VALUE << 1) | 1

#: QEMU's fw_cfg on x86 (docs/specs/fw_cfg.rst): the selector takes a 16-bit
#: key, the data port gives the selected item's next byte.
FW_CFG_SELECTOR_PORT = 0x510
FW_CFG_DATA_PORT = FW_CFG_SELECTOR_PORT + 1
FW_CFG_SIGNATURE = b"QEMU"
FW_CFG_FILE_DIR = 0x0019
FW_CFG_ENTRY_BYTES = 64
FW_CFG_NAME_BYTES = 56
#: The statement document's fw_cfg file (statement_document.FW_CFG_NAME).
FW_CFG_FILE = "opt/org.hvfleet/smt-hints"
#: Scratch memory for the directory entries: free below the stack at 0x7c00.
BUFFER = 0x0600
MARK_BEGIN = "FWCFG-BEGIN"
MARK_DONE = "FWCFG-DONE"
MARK_NONE = "FWCFG-NONE"
MARK_NODEV = "FWCFG-NODEV"
MARK_END = "END"


class CallAssembler(Assembler):
    """Adds ``call rel16``: the print routine is shared by six call sites."""

    def call(self, target):
        self.emit(0xE8, 0, 0)
        self.fixups.append((len(self.code) - 2, target, "rel16"))

    def assemble(self):
        rel16 = [f for f in self.fixups if f[2] == "rel16"]
        self.fixups = [f for f in self.fixups if f[2] != "rel16"]
        code = bytearray(super().assemble())
        for offset, target, _kind in rel16:
            if target not in self.labels:
                raise ValueError("undefined label %r" % target)
            delta = (self.labels[target] - (offset + 2)) & 0xFFFF
            code[offset] = delta & 0xFF
            code[offset + 1] = delta >> 8
        return bytes(code)


def _table(queries):
    """Five bytes a query: the sub-leaf, then the leaf (little-endian). The end is the label."""
    data = bytearray()
    for leaf, subleaf in queries:
        if not 0 <= leaf <= 0xFFFFFFFF or not 0 <= subleaf <= 0xFF:
            raise ValueError("cannot encode query (%#x, %#x)" % (leaf, subleaf))
        data += bytes((subleaf,)) + leaf.to_bytes(4, "little")
    return bytes(data)


def _string(text, terminator=b"\x00"):
    return text.encode("ascii") + terminator


def boot_sector(queries=QUERIES, fw_cfg_file=None):
    """Return the 512 bytes; see the module docstring for what they print.

    ``fw_cfg_file`` (default ``FW_CFG_FILE``) is the file the payload looks
    for; the tests use another name to check that only an exact match counts.
    """
    if fw_cfg_file is None:
        fw_cfg_file = FW_CFG_FILE
    name = _string(fw_cfg_file)  # compared with its NUL: a longer name does not match
    if not 1 < len(name) <= FW_CFG_NAME_BYTES:
        raise ValueError("fw_cfg file name must have 1-%d characters, got %r"
                         % (FW_CFG_NAME_BYTES - 1, fw_cfg_file))
    if not queries:
        raise ValueError("at least one CPUID query is needed")
    prefix = MARK_NONE.split("-", maxsplit=1)[0] + "-"
    for mark in (MARK_BEGIN, MARK_NONE, MARK_NODEV, MARK_DONE):
        if not mark.startswith(prefix):
            raise ValueError("fw_cfg markers share the prefix %r, got %r" % (prefix, mark))
    asm = CallAssembler(LOAD_ADDRESS)
    asm.emit(0xFA)                          # cli
    asm.emit(0x31, 0xC0)                    # xor ax, ax
    asm.emit(0x8E, 0xD8)                    # mov ds, ax
    asm.emit(0x8E, 0xC0)                    # mov es, ax       ; rep insb, repe cmpsb: es:di
    asm.emit(0x8E, 0xD0)                    # mov ss, ax
    asm.emit(0xBC, 0x00, 0x7C)              # mov sp, 0x7c00
    asm.emit(0xFC)                          # cld
    asm.imm16_label(0xBE, target="table")   # mov si, table
    asm.label("next")
    asm.imm16_label(0x81, 0xFE, target="table_end")  # cmp si, table_end
    asm.rel8(0x74, "fw_cfg")                # je fw_cfg
    asm.emit(0xAC)                          # lodsb            ; al = sub-leaf
    asm.emit(0x66, 0x0F, 0xB6, 0xC8)        # movzx ecx, al
    asm.emit(0x66, 0x89, 0xCD)              # mov ebp, ecx     ; keep sub-leaf
    asm.emit(0x66, 0xAD)                    # lodsd            ; eax = leaf
    asm.emit(0x66, 0x89, 0xC7)              # mov edi, eax     ; keep leaf
    asm.emit(0x0F, 0xA2)                    # cpuid
    asm.emit(0x66, 0x52)                    # push edx
    asm.emit(0x66, 0x51)                    # push ecx
    asm.emit(0x66, 0x53)                    # push ebx
    asm.emit(0x66, 0x50)                    # push eax
    asm.emit(0xB0, ord("C"))                # mov al, 'C'
    asm.call("putc")
    asm.emit(0x66, 0x89, 0xF8)              # mov eax, edi
    asm.call("hex32")
    asm.emit(0x66, 0x89, 0xE8)              # mov eax, ebp
    asm.call("hex32")
    for _register in "abcd":
        asm.emit(0x66, 0x58)                # pop eax
        asm.call("hex32")
    asm.call("crlf")
    asm.rel8(0xEB, "next")                  # jmp next
    # fw_cfg over port I/O: "FWCFG-", then BEGIN, NONE or NODEV. From the
    # signature on, dx is the data port 0x511 (putc keeps it). cx is 0 here
    # (hex32's loop ran it down), so `mov cl` sets all of cx.
    asm.label("fw_cfg")
    asm.imm16_label(0xBE, target="prefix")  # mov si, prefix
    asm.call("puts")
    asm.emit(0xBA, FW_CFG_SELECTOR_PORT & 0xFF, FW_CFG_SELECTOR_PORT >> 8)  # mov dx, 0x510
    asm.emit(0x31, 0xC0)                    # xor ax, ax       ; FW_CFG_SIGNATURE
    asm.emit(0xEF)                          # out dx, ax       ; 16-bit, little-endian
    asm.emit(0x42)                          # inc dx           ; data port
    asm.emit(0xB1, 0x04)                    # mov cl, 4
    asm.call("read")                        # 4 bytes to BUFFER
    asm.emit(0x66, 0x81, 0x3E, BUFFER & 0xFF, BUFFER >> 8)  # cmp dword [BUFFER], "QEMU"
    asm.emit(*FW_CFG_SIGNATURE)
    asm.imm16_label(0xBE, target="nodev")   # mov si, nodev
    asm.rel8(0x75, "report")                # jne report
    asm.emit(0xB8, FW_CFG_FILE_DIR & 0xFF, FW_CFG_FILE_DIR >> 8)  # mov ax, 0x19
    asm.emit(0x4A, 0xEF, 0x42)              # dec dx; out dx, ax; inc dx  ; select
    asm.emit(0xB1, 0x04)                    # mov cl, 4
    asm.call("read")                        # the entry count, big-endian
    asm.emit(0x66, 0xA1, BUFFER & 0xFF, BUFFER >> 8)  # mov eax, [BUFFER]
    asm.emit(0x66, 0x0F, 0xC8)              # bswap eax
    asm.emit(0x89, 0xC5)                    # mov bp, ax       ; QEMU has < 64K files
    asm.label("entry")
    asm.imm16_label(0xBE, target="none")    # mov si, none
    asm.emit(0x85, 0xED)                    # test bp, bp
    asm.rel8(0x74, "report")                # jz report        ; no entry left
    asm.emit(0x4D)                          # dec bp
    asm.emit(0xB1, FW_CFG_ENTRY_BYTES)      # mov cl, 64       ; repe cmpsb may leave cl, never ch
    asm.call("read")                        # {u32 size BE, u16 select BE, u16, name[56]}
    asm.imm16_label(0xBE, target="name")    # mov si, name
    asm.emit(0xBF, (BUFFER + 8) & 0xFF, (BUFFER + 8) >> 8)  # mov di, BUFFER + 8
    asm.emit(0xB1, len(name))               # mov cl, len(name) with its NUL
    asm.emit(0xF3, 0xA6)                    # repe cmpsb
    asm.rel8(0x75, "entry")                 # jne entry
    asm.emit(0xA1, (BUFFER + 4) & 0xFF, (BUFFER + 4) >> 8)  # mov ax, [BUFFER + 4]
    asm.emit(0x86, 0xC4)                    # xchg al, ah      ; the key is big-endian
    asm.emit(0x4A, 0xEF, 0x42)              # dec dx; out dx, ax; inc dx  ; select the file
    asm.imm16_label(0xBE, target="begin")   # mov si, begin
    asm.call("puts")
    asm.emit(0x66, 0xA1, BUFFER & 0xFF, BUFFER >> 8)  # mov eax, [BUFFER]  ; the entry's size
    asm.emit(0x66, 0x0F, 0xC8)              # bswap eax
    asm.emit(0x89, 0xC7)                    # mov di, ax       ; the document is < 64 KiB
    asm.call("hex32")
    asm.call("crlf")
    asm.label("byte")
    asm.emit(0x85, 0xFF)                    # test di, di
    asm.rel8(0x74, "bytes_done")            # jz bytes_done
    asm.emit(0xEC)                          # in al, dx
    asm.emit(0x88, 0xC3)                    # mov bl, al
    asm.emit(0x66, 0xC1, 0xCB, 0x08)        # ror ebx, 8       ; the byte on top
    asm.emit(0xB1, 0x02)                    # mov cl, 2
    asm.call("digits")
    asm.emit(0x4F)                          # dec di
    asm.rel8(0xEB, "byte")                  # jmp byte
    asm.label("bytes_done")
    asm.imm16_label(0xBE, target="done")    # mov si, done     ; CRLF FWCFG-DONE
    asm.label("report")
    asm.call("puts")
    asm.imm16_label(0xBE, target="end")     # mov si, end      ; CRLF END CRLF
    asm.call("puts")
    # Wait until the UART has sent the last byte: QEMU exits at the next
    # instruction and would drop whatever is still in the transmitter.
    asm.label("drain")
    asm.emit(0xBA, (COM1 + 5) & 0xFF, (COM1 + 5) >> 8)  # mov dx, 0x3fd (line status)
    asm.emit(0xEC)                          # in al, dx
    asm.emit(0xA8, 0x40)                    # test al, 0x40    ; transmitter empty
    asm.rel8(0x74, "drain")                 # jz drain
    asm.emit(0xB0, EXIT_VALUE)              # mov al, EXIT_VALUE
    asm.emit(0xBA, DEBUG_EXIT_PORT, 0x00)   # mov dx, 0xf4
    asm.emit(0xEE)                          # out dx, al       ; QEMU exits here
    asm.label("halt")
    asm.emit(0xF4)                          # hlt
    asm.rel8(0xEB, "halt")                  # jmp halt
    # read: cx bytes of the selected item to BUFFER.
    asm.label("read")
    asm.emit(0xBF, BUFFER & 0xFF, BUFFER >> 8)  # mov di, BUFFER
    asm.emit(0xF3, 0x6C)                    # rep insb
    asm.emit(0xC3)                          # ret
    # puts: the NUL-terminated string at si.
    asm.label("puts")
    asm.emit(0xAC)                          # lodsb
    asm.emit(0x84, 0xC0)                    # test al, al
    asm.rel8(0x74, "ret")                   # jz ret
    asm.call("putc")
    asm.rel8(0xEB, "puts")                  # jmp puts
    # hex32: print ' ' and EAX as 8 hex digits. The value moves to EBX
    # before AL is reused for the separator (TOOLING.md's pitfall).
    asm.label("hex32")
    asm.emit(0x66, 0x89, 0xC3)              # mov ebx, eax
    asm.emit(0xB0, ord(" "))                # mov al, ' '
    asm.call("putc")
    asm.emit(0xB9, 0x08, 0x00)              # mov cx, 8
    # digits: print the top cx nibbles of ebx.
    asm.label("digits")
    asm.emit(0x66, 0xC1, 0xC3, 0x04)        # rol ebx, 4
    asm.emit(0x88, 0xD8)                    # mov al, bl
    asm.emit(0x24, 0x0F)                    # and al, 0x0f
    asm.emit(0x3C, 0x0A)                    # cmp al, 10
    asm.rel8(0x72, "decimal")               # jb decimal
    asm.emit(0x04, 0x07)                    # add al, 'A' - '0' - 10
    asm.label("decimal")
    asm.emit(0x04, 0x30)                    # add al, '0'
    asm.call("putc")
    asm.rel8(0xE2, "digits")                # loop digits
    asm.label("ret")
    asm.emit(0xC3)                          # ret
    asm.label("crlf")
    asm.emit(0xB0, 0x0D)                    # mov al, 13
    asm.call("putc")
    asm.emit(0xB0, 0x0A)                    # mov al, 10
    # falls through into putc
    asm.label("putc")
    asm.emit(0x52)                          # push dx          ; the fw_cfg code keeps 0x511 in dx
    asm.emit(0xBA, COM1 & 0xFF, COM1 >> 8)  # mov dx, 0x3f8
    asm.emit(0xEE)                          # out dx, al
    asm.emit(0x5A)                          # pop dx
    asm.emit(0xC3)                          # ret
    strings = (
        ("prefix", prefix),
        ("begin", MARK_BEGIN[len(prefix):]),
        ("none", MARK_NONE[len(prefix):]),
        ("nodev", MARK_NODEV[len(prefix):]),
        ("done", "\r\n" + MARK_DONE),
        ("end", "\r\n" + MARK_END + "\r\n"),
    )
    for label, text in strings:
        asm.label(label)
        asm.emit(*_string(text))
    asm.label("name")
    asm.emit(*name)
    asm.label("table")
    asm.emit(*_table(queries))
    asm.label("table_end")
    code = asm.assemble()
    room = SECTOR - len(SIGNATURE)
    if len(code) > room:
        raise ValueError("payload is %d bytes, %d fit in a boot sector" % (len(code), room))
    return code + bytes(room - len(code)) + SIGNATURE


_FW_CFG_MARK = re.compile(r"FWCFG-(BEGIN|NONE|NODEV)")
_FW_CFG_FILE = re.compile(r"FWCFG-BEGIN ([0-9A-F]{8})\r?\n([0-9A-F]*)\r?\nFWCFG-DONE\r?\n")


def parse_fw_cfg(text):
    """What the last boot in a serial log printed about the fw_cfg file.

    Returns ``{"state", "size", "data"}``: state ``file`` (``size`` from the
    directory, ``data`` the bytes read), ``none`` (fw_cfg without the file),
    ``nodev`` (no fw_cfg), or ``missing`` (no section: an older payload, or a
    guest that did not get this far). Raises ValueError for a section cut
    short or garbled, or whose byte count is not the directory's size.
    """
    marks = list(_FW_CFG_MARK.finditer(text))
    if not marks:
        return {"state": "missing", "size": None, "data": None}
    last = marks[-1]
    if last.group(1) != "BEGIN":
        return {"state": last.group(1).lower(), "size": None, "data": None}
    section = _FW_CFG_FILE.match(text, last.start())
    if section is None:
        raise ValueError("fw_cfg section cut short or garbled: %r" % text[last.start():][:120])
    size = int(section.group(1), 16)
    digits = section.group(2)
    if len(digits) != 2 * size:
        raise ValueError("fw_cfg section: the directory says %d bytes, the guest printed %d"
                         % (size, len(digits) // 2))
    return {"state": "file", "size": size, "data": bytes.fromhex(digits)}


BIOS_SIZE = 0x10000
BIOS_SEGMENT = 0xF000
RESET_VECTOR = 0xFFF0
LOADER_OFFSET = 0xFF00


def firmware_image(sector=None):
    """Return a 64 KiB ``-bios`` image that copies the boot sector to 0:7c00 and jumps there.

    SeaBIOS needs 5-15 s to reach the boot sector under the nested KVM of CI
    machines (every port access is an exit to the outer hypervisor), which is
    too slow for the unit suite. CPUID is fixed by QEMU when it creates the
    vCPU, before any firmware runs, so skipping the firmware changes nothing
    the payload reads. The boot sector stays byte-identical; only the loader
    differs, and the Molecule scenario boots the same sector through SeaBIOS.
    """
    if sector is None:
        sector = boot_sector()
    if len(sector) != SECTOR:
        raise ValueError("boot sector must be %d bytes, got %d" % (SECTOR, len(sector)))
    loader = Assembler(BIOS_SEGMENT * 16 + LOADER_OFFSET)
    loader.emit(0xFA)                       # cli
    loader.emit(0x31, 0xC0)                 # xor ax, ax
    loader.emit(0x8E, 0xC0)                 # mov es, ax
    loader.emit(0x8C, 0xC8)                 # mov ax, cs
    loader.emit(0x8E, 0xD8)                 # mov ds, ax
    loader.emit(0x31, 0xF6)                 # xor si, si       ; the sector is at f000:0000
    loader.emit(0xBF, 0x00, 0x7C)           # mov di, 0x7c00
    loader.emit(0xB9, 0x00, 0x01)           # mov cx, 256
    loader.emit(0xFC)                       # cld
    loader.emit(0xF3, 0xA5)                 # rep movsw
    loader.emit(0xEA, 0x00, 0x7C, 0x00, 0x00)   # jmp 0000:7c00
    stub = loader.assemble()
    reset = bytes((0xEA, LOADER_OFFSET & 0xFF, LOADER_OFFSET >> 8,
                   BIOS_SEGMENT & 0xFF, BIOS_SEGMENT >> 8))   # jmp f000:loader
    image = bytearray(BIOS_SIZE)
    image[0:SECTOR] = sector
    image[LOADER_OFFSET:LOADER_OFFSET + len(stub)] = stub
    image[RESET_VECTOR:RESET_VECTOR + len(reset)] = reset
    return bytes(image)


def write_image(path, size=SECTOR, firmware=False):
    """Write the boot sector padded to ``size`` bytes (or the ``-bios`` image), atomically."""
    if firmware:
        data = firmware_image()
    else:
        if size < SECTOR or size % SECTOR:
            raise ValueError("size must be a multiple of 512, got %d" % size)
        data = boot_sector() + bytes(size - SECTOR)
    tmp = path + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--size", type=int, default=SECTOR,
                        help="pad the image with zeros to this many bytes (a multiple of 512)")
    parser.add_argument("--firmware", action="store_true",
                        help="write a 64 KiB -bios image that runs the sector without SeaBIOS")
    args = parser.parse_args(argv)
    try:
        write_image(args.output, args.size, args.firmware)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
