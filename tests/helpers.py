"""Shared test helpers: small image folders, awkward files, a decompression bomb, a SIGKILL harness,
a tiny token model and a tiny site built once per session."""
from __future__ import annotations

import shutil
import signal
import struct
import subprocess
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def sample_folder(source: Path, target: Path, count: int, start: int = 0, step: int = 1) -> Path:
    """`count` real ImageNet samples copied into `target`: every `step`-th of the sorted names from `start`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir())[start::step][:count]:
        shutil.copy(path, target / path.name)
    return target


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int = 20000, height: int | None = None) -> Path:
    """A PNG whose header claims width x height pixels (a few bytes on disk; Pillow refuses it as a
    decompression bomb when it opens the file)."""
    header = struct.pack(">IIBBBBB", width, height or width, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"")) +
                     _chunk(b"IEND", b""))
    return path


def awkward_images(folder: Path, good: Path) -> dict[str, bool]:
    """Write awkward files (made from the good JPEG `good`) into `folder`; returns {file name: readable?}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    photo = Image.open(good).convert("RGB")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257).save(folder / "grey16.png")
    Image.fromarray((rng.random((64, 80)) * 65535).astype(np.uint16)).save(folder / "deep16.png")
    rgba = photo.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "rgba.png")
    Image.new("RGB", (4, 4), "red").save(folder / "tiny.png")
    (folder / "corrupt.jpg").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (folder / "text.jpg").write_bytes(b"this is not an image at all" * 10)
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    bomb_png(folder / "huge.png")
    return {"cmyk.jpg": True, "grey16.png": True, "deep16.png": True, "rgba.png": True, "tiny.png": False,
            "corrupt.jpg": False, "text.jpg": False, "truncated.jpg": False, "huge.png": False}


def kill_when(cmd: Sequence[str], ready: Callable[[], bool], *, timeout: float = 240.0,
              env: dict[str, str] | None = None) -> int:
    """Run `cmd` and SIGKILL it as soon as `ready()` holds (or after `timeout` s); returns its exit code
    (-9 when it was killed, its own code when it finished first)."""
    proc = subprocess.Popen(list(cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline and not ready():
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


SITE_LAYER = "blocks.3"  # the tiny site: one layer, 3 units, 32 px renders, 20 images, tiny atlas
SITE_CHANNELS = [0, 1, 2]
_BUILT: dict[str, Path] = {}


def tiny_config():
    from deepscope.app import SiteConfig

    return SiteConfig(layers=[SITE_LAYER], channels=SITE_CHANNELS, fv_size=32, fv_steps=6, variants=2, top=4,
                      limit=20, atlas_grid=4, atlas_positions=4, atlas_layout="pca", icon_size=24, icon_steps=4,
                      saliency_images=1, saliency_methods=("gradient", "grad-cam"), sanity_images=1, sanity_size=64,
                      batch_size=10)


def tiny_site(model, tmp_path_factory) -> Path:
    """Build the site on the default image set (first 20 views) once; later calls return the folder."""
    if "site" not in _BUILT:
        from deepscope.app import build_site

        site = tmp_path_factory.mktemp("tiny-site")
        build_site(model, site, tiny_config(), progress=False)
        _BUILT["site"] = site
    return _BUILT["site"]


class TinyTokens(torch.nn.Module):
    """Patch embedding, `prefix` class/register tokens, a token-wise block, token mixing, a linear head."""

    def __init__(self, prefix: int, classes: int, width: int = 12, patch: int = 4):
        super().__init__()
        self.num_prefix_tokens = prefix
        self.patch_embed = torch.nn.Conv2d(3, width, patch, patch)
        self.prefix = torch.nn.Parameter(torch.randn(1, prefix, width))
        self.blocks = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.GELU())
        self.mix = TokenMix()
        self.head = torch.nn.Linear(width, classes)

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = self.blocks(torch.cat([self.prefix.expand(len(x), -1, -1), tokens], 1))
        mixed = self.mix(tokens)
        return self.head(mixed[:, 0] + mixed[:, self.num_prefix_tokens:].mean(1))


class TokenMix(torch.nn.Module):
    """Every token plus tanh of the mean token: after it, the class token depends on the image."""

    def forward(self, tokens):
        return tokens + tokens.mean(1, keepdim=True).tanh()
