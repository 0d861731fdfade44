#!/usr/bin/env python3
"""obs_torch_fixture.py: writes tests/data/obs-antialias-torch.f32, what the
PyTorch Mario tutorial's observation transform (torchvision Grayscale, then
Resize((84, 84), antialias=True), i.e. F.interpolate bilinear with antialias)
makes of a synthetic 256x240 frame; test_obs checks the "antialias" resize
against it. The frame: 4x4 blocks of palette indices from a 32-bit LCG
(x = x * 1103515245 + 12345, index = (x >> 16) & 63, seed 2024), every 7th
pixel overwritten by the next draw, rows first. The same generator is in
test_obs.c. Output: 84*84 little-endian float32, gray levels 0-255.

usage: /usr/bin/python3 tests/obs_torch_fixture.py OUT"""
import struct
import sys

import torch
import torch.nn.functional as F

from obs_torch_compare import PALETTE


def frame():
    x = 2024
    def draw():
        nonlocal x
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        return (x >> 16) & 63
    blocks = [[draw() for _ in range(64)] for _ in range(60)]
    pix = [[blocks[y // 4][xx // 4] for xx in range(256)] for y in range(240)]
    for i in range(0, 256 * 240, 7):
        pix[i // 256][i % 256] = draw()
    return pix


def main():
    pix = frame()
    rgb = torch.tensor([[[(PALETTE[p] >> 16) & 255, (PALETTE[p] >> 8) & 255, PALETTE[p] & 255]
                         for p in row] for row in pix], dtype=torch.float32).permute(2, 0, 1)
    gray = 0.2989 * rgb[0:1] + 0.587 * rgb[1:2] + 0.114 * rgb[2:3]
    out = F.interpolate(gray[None], size=(84, 84), mode="bilinear", align_corners=False, antialias=True)
    vals = out.flatten().tolist()
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<%df" % len(vals), *vals))


if __name__ == "__main__":
    main()
