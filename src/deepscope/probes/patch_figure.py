"""Figure of a patch experiment: per pair, the candidate patches (with their screening flip rates),
the noise control, and example images the best patch flipped (before -> after)."""
from __future__ import annotations

import os
import textwrap

EXAMPLES = 5


def _flip_examples(experiment, pair: dict, count: int):
    """(pasted image, label before, placement) for up to `count` flipped images, smallest patches first."""
    from deepscope.probes.paste import paste

    result = pair["_best_result"]
    cand = next(c for c in pair["_candidates"] if c.name == pair["best"]["name"])
    # smallest successful placement per flipped image; show the images flipped by the smallest patches first
    flipped = [(int(result.hits[i].nonzero()[0]), row) for i, row in enumerate(result.rows) if result.hits[i].any()]
    out = []
    for place_index, row in sorted(flipped)[:count]:
        place = experiment.places[place_index]
        pasted = paste(experiment.images.batch(row, row + 1), cand.image, place)[0]
        before = int(experiment.before[row].argmax())
        out.append((pasted, experiment.class_name(before), place.name))
    return out


def patch_figure(experiment, pairs: list[dict], path: str | os.PathLike) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    columns = max(EXAMPLES, max(len(p["_candidates"]) + 1 for p in pairs))
    fig, axes = plt.subplots(2 * len(pairs), columns, figsize=(1.9 * columns, 4.3 * len(pairs)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, pair in enumerate(pairs):
        top, bottom = axes[2 * k], axes[2 * k + 1]
        a_name, b_name = pair["names"]
        for j, cand in enumerate(pair["_candidates"]):
            rate = next(c["screen"]["best_rate"] for c in pair["candidates"] if c["name"] == cand.name)
            top[j].imshow(cand.image.permute(1, 2, 0).numpy())
            mark = " (best)" if cand.name == pair["best"]["name"] else ""
            top[j].set_title("\n".join(textwrap.wrap(f"{cand.name}{mark}", 22)) + f"\nscreen {100 * rate:.0f}%",
                             fontsize=7)
        noise = experiment.noise(96)
        top[len(pair["_candidates"])].imshow(noise.permute(1, 2, 0).numpy())
        top[len(pair["_candidates"])].set_title(f"noise control\nscreen {100 * pair['noise_screen']['best_rate']:.0f}%",
                                                fontsize=7)
        for j, (image, before, place) in enumerate(_flip_examples(experiment, pair, columns)):
            bottom[j].imshow(image.permute(1, 2, 0).numpy())
            bottom[j].set_title("\n".join(textwrap.wrap(f"{before} -> {b_name}", 24)) + f"\n{place}", fontsize=7)
        best, noise_full = pair["best"], pair["noise"]
        top[0].text(0, -0.12, f"{a_name} -> {b_name} ({experiment.settings.mode}, {best['eligible']} images): "
                    f"patch {100 * best['best_rate']:.1f}% best / {100 * best['fixed_rate']:.1f}% fixed, "
                    f"noise {100 * noise_full['best_rate']:.1f}% / {100 * noise_full['fixed_rate']:.1f}%",
                    transform=top[0].transAxes, fontsize=9, ha="left", va="top")
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.05, hspace=0.75, wspace=0.15)
    fig.savefig(path, dpi=90)
    plt.close(fig)
