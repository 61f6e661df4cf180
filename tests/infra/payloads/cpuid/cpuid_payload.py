"""Write a 512-byte real-mode boot sector that prints CPUID leaves to COM1 and exits QEMU.

The hypervisor leaves are the whole point of the CPUID renderers, and the only
way to know what a guest really reads is to execute ``cpuid`` inside one. A
boot sector runs under the restricted nested KVM of CI machines (a Linux
kernel does not), starts in milliseconds, and needs no disk image or guest
tools, so the regression test can run in the unit suite.

Output, one line per queried (leaf, sub-leaf), then ``END``::

    C 40000001 00000000 01007AFB 00000000 00000000 00000001

fields: leaf, sub-leaf, EAX, EBX, ECX, EDX in hex. The payload then writes
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
END_OF_TABLE = 0xFFFFFFFF
DEBUG_EXIT_PORT = 0xF4
EXIT_VALUE = 0x2A
EXIT_STATUS = (EXIT_VALUE << 1) | 1


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
    data = bytearray()
    for leaf, subleaf in queries:
        if not 0 <= leaf < END_OF_TABLE or not 0 <= subleaf <= 0xFF:
            raise ValueError("cannot encode query (%#x, %#x)" % (leaf, subleaf))
        data += leaf.to_bytes(4, "little") + bytes((subleaf,))
    return bytes(data + END_OF_TABLE.to_bytes(4, "little"))


def boot_sector(queries=QUERIES):
    """Return the 512 bytes; see the module docstring for what they print."""
    asm = CallAssembler(LOAD_ADDRESS)
    asm.emit(0xFA)                          # cli
    asm.emit(0x31, 0xC0)                    # xor ax, ax
    asm.emit(0x8E, 0xD8)                    # mov ds, ax
    asm.emit(0x8E, 0xD0)                    # mov ss, ax
    asm.emit(0xBC, 0x00, 0x7C)              # mov sp, 0x7c00
    asm.emit(0xFC)                          # cld
    asm.imm16_label(0xBE, target="table")   # mov si, table
    asm.label("next")
    asm.emit(0x66, 0xAD)                    # lodsd            ; eax = leaf
    asm.emit(0x66, 0x83, 0xF8, 0xFF)        # cmp eax, -1
    asm.rel8(0x74, "done")                  # je done
    asm.emit(0x66, 0x89, 0xC7)              # mov edi, eax     ; keep leaf
    asm.emit(0x66, 0x31, 0xC9)              # xor ecx, ecx
    asm.emit(0xAC)                          # lodsb            ; al = sub-leaf
    asm.emit(0x88, 0xC1)                    # mov cl, al
    asm.emit(0x66, 0x89, 0xCD)              # mov ebp, ecx     ; keep sub-leaf
    asm.emit(0x66, 0x89, 0xF8)              # mov eax, edi
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
    asm.label("done")
    for char in b"END":
        asm.emit(0xB0, char)                # mov al, char
        asm.call("putc")
    asm.call("crlf")
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
    # hex32: print ' ' and EAX as 8 hex digits. The value moves to EBX
    # before AL is reused for the separator (TOOLING.md's pitfall).
    asm.label("hex32")
    asm.emit(0x66, 0x89, 0xC3)              # mov ebx, eax
    asm.emit(0xB0, ord(" "))                # mov al, ' '
    asm.call("putc")
    asm.emit(0xB9, 0x08, 0x00)              # mov cx, 8
    asm.label("digit")
    asm.emit(0x66, 0xC1, 0xC3, 0x04)        # rol ebx, 4
    asm.emit(0x88, 0xD8)                    # mov al, bl
    asm.emit(0x24, 0x0F)                    # and al, 0x0f
    asm.emit(0x3C, 0x0A)                    # cmp al, 10
    asm.rel8(0x72, "decimal")               # jb decimal
    asm.emit(0x04, 0x07)                    # add al, 'A' - '0' - 10
    asm.label("decimal")
    asm.emit(0x04, 0x30)                    # add al, '0'
    asm.call("putc")
    asm.rel8(0xE2, "digit")                 # loop digit
    asm.emit(0xC3)                          # ret
    asm.label("crlf")
    asm.emit(0xB0, 0x0D)                    # mov al, 13
    asm.call("putc")
    asm.emit(0xB0, 0x0A)                    # mov al, 10
    # falls through into putc
    asm.label("putc")
    asm.emit(0xBA, COM1 & 0xFF, COM1 >> 8)  # mov dx, 0x3f8
    asm.emit(0xEE)                          # out dx, al
    asm.emit(0xC3)                          # ret
    asm.label("table")
    code = asm.assemble() + _table(queries)
    room = SECTOR - len(SIGNATURE)
    if len(code) > room:
        raise ValueError("payload is %d bytes, %d fit in a boot sector" % (len(code), room))
    return code + bytes(room - len(code)) + SIGNATURE


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
