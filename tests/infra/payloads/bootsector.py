#!/usr/bin/env python
"""Write a 512-byte real-mode boot sector that prints a marker to COM1 and halts.

Test guests only need to *exist* as running QEMU processes with real vCPU,
emulator and iothreads; booting an operating system would cost seconds of CPU
on a shared 2-core machine and a disk image nobody wants to commit. A boot
sector runs under the restricted nested KVM of CI machines (a Linux kernel does
not) and under TCG alike, and it idles in `hlt`, so its vCPU threads sleep.

The marker on the serial port is the proof that the guest really executed
code, not just that libvirt reports it as running.

No assembler is needed: the dozen instructions are encoded here by hand, with
a tiny label/fixup helper so the jumps stay correct if the code changes.

Usage: bootsector.py OUTPUT [--marker TEXT] [--size BYTES]
"""

import argparse
import os
import sys

LOAD_ADDRESS = 0x7C00
SECTOR = 512
SIGNATURE = b"\x55\xaa"
DEFAULT_MARKER = "HVFLEET-PAYLOAD-OK"
COM1 = 0x3F8


class Assembler:
    """Just enough of a 16-bit assembler for this payload: bytes, labels, rel8/abs16 fixups."""

    def __init__(self, origin):
        self.origin = origin
        self.code = bytearray()
        self.labels = {}
        self.fixups = []  # (offset, label, kind)

    def emit(self, *values):
        self.code.extend(values)

    def label(self, name):
        self.labels[name] = len(self.code)

    def rel8(self, opcode, target):
        self.emit(opcode, 0)
        self.fixups.append((len(self.code) - 1, target, "rel8"))

    def imm16_label(self, *prefix, target):
        self.emit(*prefix)
        self.emit(0, 0)
        self.fixups.append((len(self.code) - 2, target, "abs16"))

    def assemble(self):
        for offset, target, kind in self.fixups:
            if target not in self.labels:
                raise ValueError("undefined label %r" % target)
            if kind == "rel8":
                delta = self.labels[target] - (offset + 1)
                if not -128 <= delta <= 127:
                    raise ValueError("jump to %r out of rel8 range (%d)" % (target, delta))
                self.code[offset] = delta & 0xFF
            else:
                address = self.origin + self.labels[target]
                self.code[offset] = address & 0xFF
                self.code[offset + 1] = address >> 8
        return bytes(self.code)


def boot_sector(marker):
    """Return the 512 bytes: print `marker` + CRLF on COM1, then `hlt` forever."""
    text = marker.encode("ascii") + b"\r\n\x00"
    asm = Assembler(LOAD_ADDRESS)
    asm.emit(0xFA)                      # cli
    asm.emit(0x31, 0xC0)                # xor ax, ax
    asm.emit(0x8E, 0xD8)                # mov ds, ax
    asm.emit(0x8E, 0xD0)                # mov ss, ax
    asm.emit(0xBC, 0x00, 0x7C)          # mov sp, 0x7c00
    asm.emit(0xFC)                      # cld
    asm.imm16_label(0xBE, target="message")         # mov si, message
    asm.emit(0xBA, COM1 & 0xFF, COM1 >> 8)          # mov dx, 0x3f8
    asm.label("next")
    asm.emit(0xAC)                      # lodsb
    asm.emit(0x84, 0xC0)                # test al, al
    asm.rel8(0x74, "halt")              # jz halt
    asm.emit(0xEE)                      # out dx, al
    asm.rel8(0xEB, "next")              # jmp next
    asm.label("halt")
    asm.emit(0xF4)                      # hlt (interrupts off: sleeps until NMI/reset)
    asm.rel8(0xEB, "halt")              # jmp halt
    asm.label("message")
    code = asm.assemble() + text
    room = SECTOR - len(SIGNATURE)
    if len(code) > room:
        raise ValueError("marker too long: code is %d bytes, %d fit" % (len(code), room))
    return code + bytes(room - len(code)) + SIGNATURE


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--marker", default=DEFAULT_MARKER)
    parser.add_argument(
        "--size", type=int, default=SECTOR,
        help="pad the image with zeros to this many bytes (a multiple of 512)")
    args = parser.parse_args(argv)
    if args.size < SECTOR or args.size % SECTOR:
        parser.error("--size must be a multiple of 512, got %d" % args.size)
    try:
        sector = boot_sector(args.marker)
    except (ValueError, UnicodeEncodeError) as exc:
        parser.error(str(exc))
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(sector + bytes(args.size - SECTOR))
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
