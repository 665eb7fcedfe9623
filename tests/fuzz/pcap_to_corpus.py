#!/usr/bin/env python3
"""Splits a capture of lab traffic into the fuzz targets' seed corpora.

Usage: pcap_to_corpus.py CAPTURE.pcap CORPUS_DIR

Reads a classic pcap file (not pcapng) of Ethernet frames by hand, checks every frame's
checksums (a bad one means offloads were left on and the capture is not real wire bytes), and
writes one file per input into CORPUS_DIR/<target>/:

  fuzz_ethernet        every frame
  fuzz_arp             the ARP packet of each ARP frame (the Ethernet payload)
  fuzz_ipv4            the IPv4 datagram of each IPv4 frame (the Ethernet payload)
  fuzz_icmp            each ICMP message (unfragmented, or reassembled from its fragments)
  fuzz_udp, fuzz_tcp   the same for UDP and TCP, prefixed with the 4-byte source and 4-byte
                       destination addresses the checksum's pseudo-header needs
  fuzz_stack_receive   the frames addressed to the fuzzed stack (02:00:00:00:00:01 or
                       broadcast), each alone, plus sequences: every fragmented datagram,
                       each TCP connection (with the ACK fix-up flag), all ARP, and a first
                       fragment left to time out. Format: records of u8 delay code, u16 flag
                       and length, frame (see fuzz_stack_receive.cpp); delays are the
                       capture's own, in ms.

File names are a label and a content hash, so identical inputs collapse into one file.
"""

import hashlib
import os
import shutil
import struct
import sys

STACK_MAC = bytes.fromhex("020000000001")
BROADCAST_MAC = b"\xff" * 6
ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
TARGETS = ["fuzz_ethernet", "fuzz_arp", "fuzz_ipv4", "fuzz_icmp", "fuzz_udp", "fuzz_tcp",
           "fuzz_stack_receive"]
# fuzz_stack_receive delay codes: below 100 is that many ms; 255 is (255 - 99) * 0.5 s = 78 s,
# past the 30 s reassembly timeout.
MAX_MS_CODE = 99
TIMEOUT_CODE = 255
# fuzz_stack_receive record length field: the top bit asks for the TCP ACK fix-up.
FIX_ACK_FLAG = 0x8000
LENGTH_MASK = 0x7FFF


def read_pcap(path):
    """Yields (timestamp in seconds, frame bytes) from a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit(f"{path}: not a pcap file")
    magic = data[:4]
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
        b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
    }
    if magic not in formats:
        raise SystemExit(f"{path}: not a classic pcap file (magic {magic.hex()})")
    endian, unit = formats[magic]
    _, _, _, _, _, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    if linktype != 1:
        raise SystemExit(f"{path}: link type {linktype}, expected 1 (Ethernet)")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        if incl != orig or len(frame) != incl:
            raise SystemExit(f"{path}: frame cut short by the capture (use snaplen 0)")
        yield sec + frac * unit, frame


def checksum(data):
    """RFC 1071 Internet checksum of `data`: 0 when data includes a correct checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src, dst, proto, length):
    return src + dst + struct.pack("!BBH", 0, proto, length)


class Frame:
    """The parts of one captured frame the corpus needs."""

    def __init__(self, ts, raw):
        self.ts = ts
        self.raw = raw
        self.dst_mac = raw[0:6]
        ethertype = struct.unpack("!H", raw[12:14])[0]
        header = 14
        self.vlan = ethertype == ETH_VLAN
        if self.vlan:
            ethertype = struct.unpack("!H", raw[16:18])[0]
            header = 18
        self.ethertype = ethertype
        self.payload = raw[header:]
        self.ip = None
        if ethertype == ETH_IPV4:
            self.ip = Ipv4(self.payload)

    def to_stack(self):
        return self.dst_mac in (STACK_MAC, BROADCAST_MAC)

    def label(self):
        if self.ethertype == ETH_ARP:
            op = struct.unpack("!H", self.payload[6:8])[0]
            name = {1: "request", 2: "reply"}.get(op, f"op{op}")
            spa, tpa = self.payload[14:18], self.payload[24:28]
            if spa == b"\0\0\0\0":
                name += "-probe"
            elif spa == tpa:
                name += "-gratuitous"
            return ("vlan-" if self.vlan else "") + "arp-" + name
        if self.ip is None:
            return f"ethertype-{self.ethertype:04x}"
        return self.ip.label()


class Ipv4:
    def __init__(self, b):
        ihl = (b[0] & 0x0F) * 4
        total = struct.unpack("!H", b[2:4])[0]
        self.bytes = b[:total]
        self.header_len = ihl
        self.ident = struct.unpack("!H", b[4:6])[0]
        flags_frag = struct.unpack("!H", b[6:8])[0]
        self.more_fragments = bool(flags_frag & 0x2000)
        self.offset = (flags_frag & 0x1FFF) * 8
        self.proto = b[9]
        self.src = b[12:16]
        self.dst = b[16:20]
        self.body = self.bytes[ihl:]
        if checksum(self.bytes[:ihl]) != 0:
            raise ValueError("IPv4 header checksum")

    def is_fragment(self):
        return self.more_fragments or self.offset != 0

    def key(self):
        return (self.src, self.dst, self.proto, self.ident)

    def label(self):
        if self.is_fragment():
            return f"ipv4-fragment-{self.offset}{'-mf' if self.more_fragments else ''}"
        name = transport_label(self.proto, self.body)
        return name + ("-ipopts" if self.header_len > 20 else "")


def transport_label(proto, body):
    if proto == PROTO_ICMP:
        kinds = {0: "echo-reply", 3: "unreachable", 8: "echo-request", 11: "time-exceeded"}
        return "icmp-" + kinds.get(body[0], f"type{body[0]}")
    if proto == PROTO_UDP:
        return f"udp-to-{struct.unpack('!H', body[2:4])[0]}"
    if proto == PROTO_TCP:
        flags = body[13]
        names = [n for bit, n in ((0x02, "syn"), (0x10, "ack"), (0x08, "psh"), (0x01, "fin"),
                                  (0x04, "rst")) if flags & bit]
        return "tcp-" + "".join(names) + ("-data" if len(body) > (body[12] >> 4) * 4 else "")
    return f"proto{proto}"


def check_transport(proto, src, dst, body):
    """Raises if the transport checksum of a whole datagram is wrong."""
    if proto == PROTO_ICMP:
        ok = checksum(body) == 0
    elif proto == PROTO_UDP:
        ok = body[6:8] == b"\0\0" or checksum(pseudo_header(src, dst, proto, len(body)) + body) == 0
    elif proto == PROTO_TCP:
        ok = checksum(pseudo_header(src, dst, proto, len(body)) + body) == 0
    else:
        ok = True
    if not ok:
        raise ValueError(f"protocol {proto} checksum")


def reassemble(fragments):
    """The payload of a datagram from its fragments, or None if some are missing."""
    data = b""
    for ip in sorted(fragments, key=lambda f: f.offset):
        if ip.offset != len(data):
            return None
        data += ip.body
    if fragments and not max(fragments, key=lambda f: f.offset).more_fragments:
        return data
    return None


def stack_input(frames, delays=None, fix_ack=False):
    """fuzz_stack_receive's record format for a sequence of frames. With fix_ack, each
    record asks the target to set a TCP segment's acknowledgment number to the stack's own
    SND.NXT, so a captured connection completes against the stack's ISN."""
    out = b""
    for i, f in enumerate(frames):
        if delays is not None:
            code = delays[i]
        elif i + 1 < len(frames):
            code = min(MAX_MS_CODE, int((frames[i + 1].ts - f.ts) * 1000))
        else:
            code = 1
        if len(f.raw) > LENGTH_MASK:
            raise SystemExit(f"a {len(f.raw)}-byte frame does not fit the record format")
        length = len(f.raw) | (FIX_ACK_FLAG if fix_ack else 0)
        out += struct.pack("!BH", code, length) + f.raw
    return out


class Corpus:
    def __init__(self, root):
        self.root = root
        self.counts = {t: 0 for t in TARGETS}
        self.seen = set()
        for t in TARGETS:
            path = os.path.join(root, t)
            if os.path.isdir(path):
                shutil.rmtree(path)
            os.makedirs(path)

    def add(self, target, label, data):
        digest = hashlib.sha1(data).hexdigest()[:10]
        if (target, digest) in self.seen:
            return
        self.seen.add((target, digest))
        with open(os.path.join(self.root, target, f"{label}-{digest}"), "wb") as f:
            f.write(data)
        self.counts[target] += 1


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    capture, root = sys.argv[1], sys.argv[2]
    frames = []
    for ts, raw in read_pcap(capture):
        try:
            frames.append(Frame(ts, raw))
        except (ValueError, IndexError, struct.error) as e:
            raise SystemExit(f"{capture}: frame {len(frames) + 1} is not valid ({e}): "
                             "were checksum offloads left on?")
    corpus = Corpus(root)

    fragments = {}
    tcp_flows = {}
    for f in frames:
        corpus.add("fuzz_ethernet", f.label(), f.raw)
        if f.to_stack():
            corpus.add("fuzz_stack_receive", f.label(), stack_input([f]))
        if f.ethertype == ETH_ARP:
            corpus.add("fuzz_arp", f.label(), f.payload)
        ip = f.ip
        if ip is None:
            continue
        corpus.add("fuzz_ipv4", f.label(), ip.bytes)
        if ip.is_fragment():
            fragments.setdefault(ip.key(), []).append(f)
            continue
        add_transport(corpus, ip.proto, ip.src, ip.dst, ip.body)
        if ip.proto == PROTO_TCP and f.to_stack():
            tcp_flows.setdefault((ip.src, ip.dst, ip.body[0:4]), []).append(f)

    for (src, dst, proto, _), group in fragments.items():
        body = reassemble([g.ip for g in group])
        if body is None:
            raise SystemExit(f"{capture}: fragments of a datagram are missing")
        add_transport(corpus, proto, src, dst, body)
        to_stack = [g for g in group if g.to_stack()]
        if to_stack:
            label = transport_label(proto, body)
            corpus.add("fuzz_stack_receive", "fragments-" + label, stack_input(to_stack))
            first = [g for g in to_stack if g.ip.offset == 0]
            corpus.add("fuzz_stack_receive", "fragment-timeout-" + label,
                       stack_input(first, delays=[TIMEOUT_CODE]))

    for group in tcp_flows.values():
        corpus.add("fuzz_stack_receive", "tcp-connection", stack_input(group, fix_ack=True))
    arp_to_stack = [f for f in frames if f.ethertype == ETH_ARP and f.to_stack()]
    if arp_to_stack:
        corpus.add("fuzz_stack_receive", "arp-sequence", stack_input(arp_to_stack))

    for t in TARGETS:
        print(f"  {t}: {corpus.counts[t]} inputs")


def add_transport(corpus, proto, src, dst, body):
    try:
        check_transport(proto, src, dst, body)
    except ValueError as e:
        raise SystemExit(f"a captured datagram has a bad {e}: were checksum offloads left on?")
    label = transport_label(proto, body)
    if proto == PROTO_ICMP:
        corpus.add("fuzz_icmp", label, body)
    elif proto == PROTO_UDP:
        corpus.add("fuzz_udp", label, src + dst + body)
    elif proto == PROTO_TCP:
        corpus.add("fuzz_tcp", label, src + dst + body)


if __name__ == "__main__":
    main()
