"""How the atlas layout scales: UMAP time at growing sizes, full fit against a sampled fit.

    python bench/layout_scale.py --store STORE [--sizes 10000,30000,100000] [--fit-limit 30000]

Reads the activations of an atlas store, warms numba up (UMAP's fit and transform compile on
first use), then times a full UMAP fit on the first random N of them for
each size, and a sampled fit (`fit_limit` activations fitted, the rest placed by `transform`, as
`deepscope.atlas.layout` does above its limit) for the sizes above the limit. On the sizes where
both run, the trustworthiness (scikit-learn, k=10, on a fixed random subset) of each layout is
reported, and the sampled layout's agreement with the full one. Results: bench/results/layout_scale.json.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from common import RESULTS, Results, environment
from sklearn.manifold import trustworthiness

from deepscope.atlas.collection.store import open_store
from deepscope.atlas.layout import layout

EVAL_POINTS = 4000  # trustworthiness needs all pairwise distances: measured on a subset
NEIGHBOURS = 10


def timed(acts: np.ndarray, fit_limit: int | None, seed: int) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    coords = layout(acts, "umap", seed=seed, fit_limit=fit_limit, normalize=False)
    return coords, time.perf_counter() - start


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = NEIGHBOURS) -> float:
    """Mean share of each point's k nearest neighbours that two layouts have in common."""
    from sklearn.neighbors import NearestNeighbors

    sets = [NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)[:, 1:]
            for x in (a, b)]
    return float(np.mean([len(set(p) & set(q)) / k for p, q in zip(*sets)]))


def quality(acts: np.ndarray, coords: np.ndarray, subset: np.ndarray) -> float:
    return float(trustworthiness(acts[subset], coords[subset], n_neighbors=NEIGHBOURS, metric="cosine"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="an atlas activation store")
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--fit-limit", type=int, default=30000)
    parser.add_argument("--compare-at", default="30000,100000",
                        help="sizes where the full fit and a sampled fit (of a third as many) are compared")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "layout_scale.json"))
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    acts_all = open_store(args.store).acts
    sizes = [min(int(s), len(acts_all)) for s in args.sizes.split(",")]
    compare = {min(int(s), len(acts_all)) for s in args.compare_at.split(",")}
    results = Results(args.out, {"store": os.path.basename(args.store.rstrip("/")), "sizes": sizes,
                                 "fit_limit": args.fit_limit, "compare_at": sorted(compare),
                                 "channels": int(acts_all.shape[1])}, args.resume)
    results.data["environment"] = environment(1)
    order = np.random.default_rng(args.seed).permutation(len(acts_all))
    timed(acts_all[order[:1000]], 500, args.seed)  # numba compiles UMAP's fit and transform once, untimed
    for n in sizes:
        name = f"n{n}"
        if results.has(name):
            continue
        acts = acts_all[order[:n]]
        full, full_s = timed(acts, None, args.seed)
        row = {"activations": n, "full_fit_s": round(full_s, 1)}
        print(f"{n} activations: full fit {full_s:.1f} s", flush=True)
        limit = args.fit_limit if n > args.fit_limit else (n // 3 if n in compare else None)
        if limit:
            sampled, sampled_s = timed(acts, limit, args.seed)
            row.update({"sampled_fit": limit, "sampled_s": round(sampled_s, 1)})
            if n in compare:
                subset = np.random.default_rng([args.seed, n]).choice(n, min(EVAL_POINTS, n), replace=False)
                row.update({"trustworthiness_full": round(quality(acts, full, subset), 4),
                            "trustworthiness_sampled": round(quality(acts, sampled, subset), 4),
                            "neighbour_overlap": round(neighbour_overlap(full[subset], sampled[subset]), 4)})
        print(row, flush=True)
        results.put(name, row)


if __name__ == "__main__":
    main()
