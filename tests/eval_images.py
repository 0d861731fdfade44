#!/usr/bin/env python3
"""eval_images.py: independent checks of the pictures smbrl eval and smbrl plot write, for
eval_cli.sh; standard library only (no PIL). Prints one line of figures per call.

  png FILE          -> "W H COLOURS RED": decodes the whole PNG (chunk CRCs, zlib, all five
                       row filters; 8-bit RGB or RGBA), COLOURS distinct pixels, RED pixels of
                       plot's moving-average red (r > 190, g < 100, b < 70)
  gif FILE          -> "W H FRAMES": logical screen size and image descriptor count
  xwd FILE R G B    -> "W H COUNT": pixels of exactly that colour in an xwd -root dump
"""
import struct
import sys
import zlib


def png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "bad CRC in %r" % kind
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG type %r" % (ihdr,)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    assert len(raw) == h * (stride + 1), "IDAT holds %d bytes, expected %d" % (len(raw), h * (stride + 1))
    prev = bytearray(stride)
    colours, red = set(), 0
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
            else:
                assert f == 0, "bad filter %d" % f
        for x in range(0, stride, bpp):
            r, g, bl = line[x], line[x + 1], line[x + 2]
            colours.add((r, g, bl))
            if r > 190 and g < 100 and bl < 70:
                red += 1
        prev = line
    print(w, h, len(colours), red)


def gif(path):
    data = open(path, "rb").read()
    assert data[:6] in (b"GIF87a", b"GIF89a"), "not a GIF"
    w, h = struct.unpack("<HH", data[6:10])
    flags = data[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    frames = 0
    while pos < len(data):
        b = data[pos]
        if b == 0x3B:
            break
        if b == 0x21:  # extension: label, then sub-blocks
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        elif b == 0x2C:
            frames += 1
            f = data[pos + 9]
            pos += 10 + (3 * (2 << (f & 7)) if f & 0x80 else 0)
            pos += 1  # LZW minimum code size
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        else:
            raise AssertionError("bad GIF block 0x%02x at %d" % (b, pos))
    print(w, h, frames)


def xwd(path, r, g, b):
    data = open(path, "rb").read()
    f = struct.unpack(">25I", data[:100])
    header_size, version, _, depth, w, h = f[0], f[1], f[2], f[3], f[4], f[5]
    byte_order, bpp, bpl = f[7], f[11], f[12]
    rmask, gmask, bmask, ncolors = f[14], f[15], f[16], f[19]
    # Xvfb's 24-bit screens store 3 bytes per pixel and pad each line (4096 bytes for 1024
    # pixels): step by bits_per_pixel, start lines at bytes_per_line
    size = bpp // 8
    assert version == 7 and depth >= 24 and size in (3, 4) and bpl >= size * w, \
        "unexpected xwd %r" % (f[:13],)
    pos = header_size + 12 * ncolors
    little = byte_order == 0

    def shift(m):
        return (m & -m).bit_length() - 1

    want = (r << shift(rmask)) | (g << shift(gmask)) | (b << shift(bmask))
    mask = rmask | gmask | bmask
    count = 0
    for y in range(h):
        row = data[pos + y * bpl:pos + y * bpl + size * w]
        for x in range(0, size * w, size):
            p = int.from_bytes(row[x:x + size], "little" if little else "big")
            if p & mask == want:
                count += 1
    print(w, h, count)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "png":
        png(sys.argv[2])
    elif cmd == "gif":
        gif(sys.argv[2])
    elif cmd == "xwd":
        xwd(sys.argv[2], *map(int, sys.argv[3:6]))
    else:
        sys.exit("unknown command " + cmd)
