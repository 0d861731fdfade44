#!/usr/bin/env python3
"""obs_torch_compare.py: how our 84x84 observation compares with the PyTorch
Mario tutorial's (torchvision Grayscale, then Resize((84, 84), antialias=True) on
the float image, which is F.interpolate(bilinear, antialias=True)).

usage: /usr/bin/python3 tests/obs_torch_compare.py FRAMES OURS
FRAMES and OURS come from the obs_dump tool (tests/env.cmake), with our resize
"area" (the default) or "antialias". Prints the mean
and largest absolute difference in gray levels (0-255) and how many pixels
differ by more than 1, 2 and 4 levels. Needs PyTorch (Debian python3-torch);
no test depends on it."""
import sys

import numpy as np
import torch
import torch.nn.functional as F

# nes_palette_rgb (src/nes/palette.c)
PALETTE = [
    0x7C7C7C, 0x0000FC, 0x0000BC, 0x4428BC, 0x940084, 0xA80020, 0xA81000, 0x881400,
    0x503000, 0x007800, 0x006800, 0x005800, 0x004058, 0x000000, 0x000000, 0x000000,
    0xBCBCBC, 0x0078F8, 0x0058F8, 0x6844FC, 0xD800CC, 0xE40058, 0xF83800, 0xE45C10,
    0xAC7C00, 0x00B800, 0x00A800, 0x00A844, 0x008888, 0x000000, 0x000000, 0x000000,
    0xF8F8F8, 0x3CBCFC, 0x6888FC, 0x9878F8, 0xF878F8, 0xF85898, 0xF87858, 0xFCA044,
    0xF8B800, 0xB8F818, 0x58D854, 0x58F898, 0x00E8D8, 0x787878, 0x000000, 0x000000,
    0xFCFCFC, 0xA4E4FC, 0xB8B8F8, 0xD8B8F8, 0xF8B8F8, 0xF8A4C0, 0xF0D0B0, 0xFCE0A8,
    0xF8D878, 0xD8F878, 0xB8F8B8, 0xB8F8D8, 0x00FCFC, 0xF8D8F8, 0x000000, 0x000000,
]


def main():
    frames = np.fromfile(sys.argv[1], dtype=np.uint8).reshape(-1, 240, 256)
    ours = np.fromfile(sys.argv[2], dtype=np.uint8).reshape(-1, 84, 84).astype(np.float64)
    rgb = np.array([[(c >> 16) & 255, (c >> 8) & 255, c & 255] for c in PALETTE], dtype=np.float32)
    img = torch.from_numpy(rgb[frames & 63]).permute(0, 3, 1, 2)  # N,3,240,256 float
    gray = 0.2989 * img[:, 0:1] + 0.587 * img[:, 1:2] + 0.114 * img[:, 2:3]  # torchvision's weights
    tut = F.interpolate(gray, size=(84, 84), mode="bilinear", align_corners=False, antialias=True)
    tut = tut[:, 0].numpy().astype(np.float64)
    area = F.adaptive_avg_pool2d(gray, (84, 84))[:, 0].numpy()  # integer-edged bins, for contrast
    d = np.abs(ours - tut)
    print(f"{len(frames)} frames; ours (uint8) vs the tutorial's (bilinear antialias, float):")
    print(f"  mean |diff| {d.mean():.3f}, max {d.max():.1f} gray levels; "
          f">1: {(d > 1).mean() * 100:.2f}%, >2: {(d > 2).mean() * 100:.2f}%, >4: {(d > 4).mean() * 100:.2f}% of pixels")
    r = np.abs(np.floor(tut + 0.5) - tut)
    print(f"  rounding alone accounts for a mean of {r.mean():.3f}; "
          f"ours == round(tutorial) for {(ours == np.floor(tut + 0.5)).mean() * 100:.3f}% of pixels")
    da = np.abs(area - tut)
    print(f"  (torch adaptive_avg_pool2d vs tutorial: mean {da.mean():.3f}, max {da.max():.1f})")


if __name__ == "__main__":
    main()
