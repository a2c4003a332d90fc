"""Robust image loading: every odd file either loads as RGB in [0, 1] or fails with a clear error."""
import numpy as np
import pytest
from helpers import bomb_png
from PIL import Image

from deepscope.data import ImageError, image_files, load_image, load_image_resized
from deepscope.errors import DeepscopeError


def _save(tmp_path, name, image, **kw):
    path = tmp_path / name
    image.save(path, **kw)
    return path


@pytest.mark.parametrize("mode, fmt", [("L", "png"), ("CMYK", "jpeg"), ("RGBA", "png"), ("LA", "png"),
                                       ("P", "png"), ("RGB", "webp"), ("I;16", "png")])
def test_odd_modes_load_as_rgb(tmp_path, mode, fmt):
    if mode == "I;16":
        arr = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
        image = Image.fromarray(arr)
    else:
        image = Image.new("RGB", (32, 32), (200, 40, 10)).convert(mode)
    tensor = load_image(_save(tmp_path, f"x.{fmt}", image))
    assert tensor.shape == (3, 32, 32)
    assert 0 <= tensor.min() and tensor.max() <= 1
    if mode == "I;16":
        assert tensor.max() > 0.95 and tensor.min() < 0.05  # 16-bit range mapped, not clipped


def test_rgba_composites_over_grey(tmp_path):
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    tensor = load_image(_save(tmp_path, "clear.png", image))
    assert abs(tensor.mean().item() - 128 / 255) < 0.01


def test_truncated_and_corrupt_files_fail_clearly(tmp_path):
    good = _save(tmp_path, "good.jpg", Image.new("RGB", (64, 64), "blue"))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"this is not an image")
    for path in (truncated, corrupt):
        with pytest.raises(ImageError, match=path.name):
            load_image(path)


def test_tiny_image_fails_clearly(tmp_path):
    with pytest.raises(ImageError, match="at least 8 px"):
        load_image(_save(tmp_path, "tiny.png", Image.new("RGB", (3, 3))))


def test_decompression_bomb_is_refused(tmp_path):
    with pytest.raises(ImageError, match="too large"):
        load_image(bomb_png(tmp_path / "huge.png", 20000, 20000))


def test_resize_center_crop(tmp_path):
    path = _save(tmp_path, "wide.png", Image.new("RGB", (200, 100), "white"))
    assert load_image_resized(path, 64).shape == (3, 64, 64)


def test_folders(tmp_path):
    with pytest.raises(DeepscopeError, match="does not exist"):
        image_files(tmp_path / "missing")
    with pytest.raises(DeepscopeError, match="no image files"):
        image_files(tmp_path)
    (tmp_path / "sub").mkdir()
    _save(tmp_path / "sub", "a.PNG", Image.new("RGB", (16, 16)))
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in image_files(tmp_path)] == ["a.PNG"]


def test_batches_keep_their_file_ranges_and_skip_unreadable_files(tmp_path):
    """iter_batches over files (one corrupt) and over a dataset source: fixed batch ranges, the bad
    item skipped and named, a resumed stream (start=batch boundary) gives the same later batches."""
    import torch

    from deepscope.data.sources import as_source
    from deepscope.data.stream import iter_batches

    files = []
    for i in range(7):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (20 + i, 16), (30 * i, 0, 0)).save(path)
        files.append(path)
    files[3].write_bytes(b"not an image")
    batches = list(iter_batches(files, 8, 3, workers=2))
    assert [(b.start, b.stop) for b in batches] == [(0, 3), (3, 6), (6, 7)]
    assert batches[1].indices == [4, 5] and batches[1].skipped[0][0] == 3 and "img3.png" in batches[1].skipped[0][1]
    resumed = list(iter_batches(files, 8, 3, start=3))
    assert all(torch.equal(a.images, b.images) for a, b in zip(batches[1:], resumed))

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise KeyError("missing item")
            return torch.full((3, 10, 12), i / 4), i

    batches = list(iter_batches(as_source(Items(), 8), 8, 2))
    assert [b.indices for b in batches] == [[0, 1], [3]] and "missing item" in batches[1].skipped[0][1]
    assert batches[0].images.shape == (2, 3, 8, 8) and float(batches[1].images[0].mean()) == pytest.approx(0.75)


def test_file_listing_survives_a_moved_folder_but_not_a_changed_file(tmp_path):
    from deepscope.data.stream import file_listing

    for name in ("a", "b"):
        (tmp_path / name / "sub").mkdir(parents=True)
        Image.new("RGB", (12, 12)).save(tmp_path / name / "sub" / "x.png")
        Image.new("RGB", (14, 12)).save(tmp_path / name / "y.png")
    listing = file_listing(image_files(tmp_path / "a"))
    assert listing == file_listing(image_files(tmp_path / "b")) and listing[0][0] == "sub/x.png"
    Image.new("RGB", (40, 40)).save(tmp_path / "b" / "y.png")
    assert listing != file_listing(image_files(tmp_path / "b"))


def _one_bit_png(path, side: int):
    """A real side x side 1-bit PNG, all black: 17 KB on disk for 12000 px, 144 Mpx once decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * ((side // 8 + 1) * side), 9)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def test_the_pixel_limit_holds_before_decoding_in_every_thread(tmp_path):
    """A 17 KB 12000 x 12000 PNG (under Pillow's own 2 x 89 Mpx error limit) is refused from its header,
    at once, in four decoding threads together, without touching Pillow's global setting; a file
    below the limit still loads."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image as PILImage

    from deepscope.data.images import MAX_PIXELS

    bomb = _one_bit_png(tmp_path / "bomb.png", 12000)
    assert bomb.stat().st_size < 40_000 and 12000 ** 2 > MAX_PIXELS
    limit = PILImage.MAX_IMAGE_PIXELS

    def refused(_):
        start = time.perf_counter()
        with pytest.raises(ImageError, match="12000x12000 = 144 Mpx"):
            load_image(bomb)
        return time.perf_counter() - start

    with ThreadPoolExecutor(4) as pool:
        seconds = list(pool.map(refused, range(8)))
    assert max(seconds) < 0.5 and PILImage.MAX_IMAGE_PIXELS == limit, seconds
    assert load_image(_one_bit_png(tmp_path / "fine.png", 64)).shape == (3, 64, 64)


def test_image_folders_follow_symlinked_folders_once(tmp_path):
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.jpg"):
        Image.new("RGB", (16, 16)).save(real / name)
    top = tmp_path / "top"
    top.mkdir()
    (top / "linked").symlink_to(real, target_is_directory=True)
    (real / "sub" / "loop").symlink_to(real, target_is_directory=True)  # a cycle ends at the second visit
    assert [p.relative_to(top).as_posix() for p in image_files(top)] == ["linked/a.png", "linked/sub/b.jpg"]
