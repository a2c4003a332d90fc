"""Notebooks: results display inline (`_repr_png_` / `_repr_html_`), and the quickstart notebook runs
end to end on tiny settings in a kernel of this very Python."""
from __future__ import annotations

import base64
import io
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepscope.atlas import build_atlas
from deepscope.atlas.collection.store import ActivationStore
from deepscope.attribution.attribute import Attribution
from deepscope.attribution.report import Explained
from deepscope.attribution.sanity import SanityReport, randomization_verdict
from deepscope.examples.dataset_examples import ExamplesReport
from deepscope.render.optimize import RenderResult

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "quickstart.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = """SIZE, STEPS = 32, 4
ICON_SIZE, ICON_STEPS = 32, 4
GRID, LAYOUT = 2, "pca"
VIEWS, LIMIT = 1, 4
INPUT, IMAGES = 64, 1
"""


def png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture.convert("RGB")


def solid(colours) -> torch.Tensor:
    return torch.tensor(colours, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 32, 32).contiguous()


def test_render_result_shows_a_contact_sheet_of_its_images():
    colours = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0)]
    result = RenderResult(solid(colours), torch.zeros(4), ["channel(blocks.4:0)", "channel(blocks.4:1)"], 2)
    sheet = np.asarray(png(result._repr_png_()))
    tile, pad, caption = 64, 4, 14  # 32 px images shown as 64 px tiles, two variants per row
    assert sheet.shape == (2 * (tile + pad + caption) + pad, 2 * (tile + pad) + pad, 3)
    for i, colour in enumerate(colours):
        r, c = divmod(i, 2)
        centre = sheet[pad + r * (tile + pad + caption) + tile // 2, pad + c * (tile + pad) + tile // 2]
        assert np.abs(centre.astype(int) - np.array(colour) * 255).max() <= 1


class Titles(HTMLParser):
    def __init__(self):
        super().__init__()
        self.titles, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "title" in attrs:
            self.titles.append(attrs["title"])
        if tag == "img":
            self.images.append(attrs["src"])


def small_atlas(icons: bool):
    rng = np.random.default_rng(0)
    acts = np.concatenate([rng.normal(3 * k, 0.3, (20, 6)) for k in range(3)]).astype(np.float32)
    attr = rng.normal(0, 0.01, (60, 3)).astype(np.float16)
    attr[np.arange(60), np.arange(60) // 20] += 1.0  # blob k is attributed to class k
    meta = {"layer": "blocks.5", "class_names": ["tench", "goldfish", "shark"], "model": "fake"}
    store = ActivationStore(None, meta, [f"img{i}.jpg" for i in range(60)], acts, np.arange(60),
                            np.ones((60, 2), np.int16), attr)
    coords = np.clip((acts[:, :2] - acts[:, :2].min()) / np.ptp(acts[:, :2]), 0, 1)  # a given layout: no fitting
    atlas = build_atlas(None, store, grid=4, threshold=2, coords=coords, icons=None, progress=False)
    if icons:
        atlas.icons, atlas.scores = torch.rand(len(atlas.grid), 3, 16, 16), np.ones(len(atlas.grid))
    return atlas


@pytest.mark.parametrize("icons", [False, True])
def test_atlas_html_names_every_cell_with_its_count_and_top_class(icons):
    atlas = small_atlas(icons)
    parser = Titles()
    parser.feed(atlas._repr_html_())
    cells = [t for t in parser.titles if t.startswith("cell (")]
    assert len(cells) == len(atlas.grid) >= 3
    top = atlas.cell_attribution().argmax(1)
    for (x, y), count, cls in zip(atlas.grid.cells.tolist(), atlas.grid.counts, top):
        title = next(t for t in cells if t.startswith(f"cell ({x}, {y})"))
        assert f"{count} activations" in title
        assert f"top class: {atlas.data.classes[cls]} (" in title
    assert len(parser.images) == (len(atlas.grid) if icons else 0)
    for src in parser.images:
        assert src.startswith("data:image/jpeg;base64,")
        icon = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert icon.size == (64, 64)  # a 4x4 grid: shown at most 64 px a cell


def test_saliency_results_show_each_image_beside_its_maps():
    images = torch.rand(2, 3, 32, 32)
    raw = torch.zeros(2, 3, 32, 32)
    raw[:, :, :8, :8] = 1.0  # attribution in the top-left corner
    results = {m: Attribution(m, raw, torch.tensor([1, 2])) for m in ("gradient", "guided-backprop")}
    probs = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    explained = Explained(images, [], probs, torch.tensor([1, 2]), results, ["tench", "goldfish", "shark"])
    sheet = png(explained._repr_png_())
    assert sheet.size == (3 * 68 + 4, 2 * 82 + 4)  # rows: images; columns: image + two methods
    heat = np.asarray(png(results["gradient"]._repr_png_())).astype(int).sum(-1)
    assert heat[4 + 8, 4 + 8] > heat[4 + 56, 4 + 56] + 100  # the map is bright where the attribution is


def test_sanity_report_shows_its_verdict_table():
    stages = ["logits", "blocks.6", "blocks.5", "stem"]
    passing = randomization_verdict([{"spearman_abs": v} for v in (0.9, 0.2, 0.1, 0.0)], stages, 0.5)
    failing = randomization_verdict([{"spearman_abs": v} for v in (0.99, 0.98, 0.9, 0.3)], stages, 0.5)
    methods = {"gradient": {"randomization": passing,
                            "class_sensitivity": {"class_insensitive": False, "verdict": "sensitive"}},
               "guided-backprop": {"randomization": failing,
                                   "class_sensitivity": {"class_insensitive": True, "verdict": "insensitive"}}}
    report = SanityReport(model="fake", images=2, random_mask_control={"max_abs_spearman": 0.04}, methods=methods)
    table = report._repr_html_()
    rows = re.findall(r"<tr><td.*?</tr>", table)
    assert len(rows) == 2 and "gradient" in rows[0] and "guided-backprop" in rows[1]
    assert rows[0].count("&#10003;") == 2 and rows[1].count("&#10007;") == 2
    assert "passes" in rows[0] and "reconstructs the image" in rows[1]
    assert json.loads(json.dumps(report)) == dict(report)  # still the plain JSON report


def test_examples_report_shows_its_overview(tmp_path):
    Image.new("RGB", (40, 20), "red").save(tmp_path / "overview.png")
    shown = png(ExamplesReport({"overview": "overview.png", "channels": []}, tmp_path)._repr_png_())
    assert shown.size == (40, 20) and shown.getpixel((5, 5)) == (255, 0, 0)
    assert ExamplesReport({"overview": None}, tmp_path)._repr_png_() is None


def test_ipython_prints_one_line_summaries():
    from IPython.lib.pretty import pretty

    result = RenderResult(torch.rand(2, 3, 8, 8), torch.zeros(2), ["a", "b"])
    assert pretty(result) == "RenderResult: 2 images (3, 8, 8), objectives a, b"
    assert pretty(small_atlas(False)).startswith("Atlas of blocks.5: ")


def run_notebook(path: Path, knobs: str, workdir: Path):
    """Execute the notebook with `knobs` in place of its parameters cell, in a kernel of this Python."""
    import nbformat
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    knob_cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(knob_cells) == 1, "the notebook reads its size knobs from one cell tagged 'parameters'"
    knob_cells[0].source = (f"import sys, tempfile, torch\ntorch.set_num_threads(1)  # small tensors: quickest\n"
                            f"tempfile.tempdir = {str(workdir)!r}\nprint(sys.prefix)\n{knobs}")
    write_kernel_spec(workdir / "kernels" / "python3")  # runs sys.executable
    manager = KernelManager(kernel_name="python3",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(workdir / "kernels")]))
    client = NotebookClient(notebook, km=manager, timeout=300, resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return notebook, knob_cells[0]


DISPLAYS = ("channels", "classes", "atlas", "examples", "explained", "report")


def display_outputs(notebook) -> dict[str, dict]:
    """{name: the output bundle} of each cell that ends by showing one of `DISPLAYS`."""
    shown = {}
    for cell in notebook.cells:
        lines = cell.source.strip().splitlines() if cell.cell_type == "code" else []
        if lines and lines[-1] in DISPLAYS:
            last = lines[-1]
            bundles = [o["data"] for o in cell.outputs if o.output_type == "execute_result"]
            shown[last] = bundles[0] if bundles else {}
    return shown


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return run_notebook(NOTEBOOK, TINY, tmp_path_factory.mktemp("notebook"))


def test_quickstart_runs_in_this_python_and_every_result_displays(executed):
    notebook, knobs = executed
    printed = "".join(o.get("text", "") for o in knobs.outputs if o.get("name") == "stdout")
    assert printed.strip() == sys.prefix  # the kernel is this venv's Python
    assert all(o.output_type != "error" for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    shown = display_outputs(notebook)
    assert set(shown) == set(DISPLAYS)
    for name in ("channels", "classes", "examples", "explained"):
        png(base64.b64decode(shown[name]["image/png"]))
    hover = r'title="cell \(\d+, \d+\) \| \d+ activations \| top class: '
    assert re.search(hover, shown["atlas"]["text/html"])
    assert "randomized weights" in shown["report"]["text/html"]


def test_stored_quickstart_is_small_and_shows_its_pictures():
    import nbformat

    assert NOTEBOOK.stat().st_size < 1.5e6
    shown = display_outputs(nbformat.read(NOTEBOOK, as_version=4))
    assert set(shown) == set(DISPLAYS)
    assert all({"image/png", "text/html"} & set(bundle) for bundle in shown.values())
