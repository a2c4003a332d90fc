"""Helpers for the dataset-view tests: small image folders, good and bad files."""
from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def sample_folder(source: Path, dest: Path, count: int, step: int = 37) -> list[Path]:
    """Copy `count` spread-out ImageNet samples into `dest`."""
    files = sorted(source.glob("*.JPEG"))[::step][:count]
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, dest / f.name)
    return sorted(dest.iterdir())


def huge_png_header(path: Path, side: int = 20000) -> None:
    """A PNG whose header claims side x side pixels (Pillow refuses it as a decompression bomb)."""
    Image.new("RGB", (16, 16), (10, 200, 30)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + 'IHDR'
    data[ihdr:ihdr + 8] = struct.pack(">II", side, side)
    crc = zlib.crc32(bytes(data[12:ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def bad_and_odd_images(folder: Path, good: Path) -> dict[str, bool]:
    """Write odd files into `folder`; returns {file name: readable?}."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.open(good).convert("RGB")
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    grey16 = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "grey16.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "rgba.png")
    (folder / "corrupt.jpg").write_bytes(b"this is not an image at all" * 10)
    full = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 3])
    Image.new("RGB", (4, 4), "red").save(folder / "tiny.png")
    huge_png_header(folder / "huge.png")
    return {"cmyk.jpg": True, "grey16.png": True, "rgba.png": True, "corrupt.jpg": False,
            "truncated.jpg": False, "tiny.png": False, "huge.png": False}
