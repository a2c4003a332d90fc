"""Small image folders for the atlas tests: real samples and every kind of awkward file."""
from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def sample_folder(source: Path, target: Path, count: int, start: int = 0) -> Path:
    """`count` real ImageNet samples copied into `target` (sorted names from `start`)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir())[start:start + count]:
        shutil.copy(path, target / path.name)
    return target


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path: Path, side: int = 20000) -> Path:
    """A valid 1-bit PNG of side×side pixels (a few kB on disk, a decompression bomb when decoded)."""
    row = b"\x00" + bytes((side + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


def awkward_images(folder: Path, good: Path) -> dict[str, bool]:
    """Write awkward files next to a good JPEG; returns {file name: should it be readable}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    photo = Image.open(good).convert("RGB")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((rng.random((64, 80)) * 65535).astype(np.uint16)).save(folder / "deep16.png")
    rgba = photo.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "alpha.png")
    Image.new("RGB", (4, 4), "red").save(folder / "tiny.png")
    (folder / "corrupt.jpg").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    huge_png(folder / "huge.png")
    return {"cmyk.jpg": True, "deep16.png": True, "alpha.png": True, "tiny.png": False, "corrupt.jpg": False,
            "truncated.jpg": False, "huge.png": False}
