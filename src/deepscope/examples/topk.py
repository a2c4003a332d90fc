"""Running top-k per channel, kept in tensors and merged batch by batch.

A channel's score for an image is the spatial max of its activation map (the strongest position,
as Zeiler & Fergus show; over the patch grid of a token layer; the value itself for a vector layer);
the spatial mean is stored beside it. Ties keep the earlier image, so the result equals a stable
sort of every image's score, whatever the batching.

Images may carry a group id (the photo a view was cut from): with `per_group` set, a channel keeps
at most that many images of one group, the best ones. The greedy pick (best first, skipping images
whose group is full) of the kept images plus a batch equals the greedy pick of every image seen, so
the capped result does not depend on the batching either.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TopK:
    """For each of `channels` (C of them): the k best images so far, best first.

    `scores` (C, k) spatial max, `means` (C, k) spatial mean, `images` (C, k) image index (-1 where
    fewer than k images were seen), `positions` (C, k, 2) grid (y, x) of the max. `groups` (N,): the
    group id of every image index of the pass (None: no groups); `per_group`: the most images of one
    group a channel keeps (None: no cap).
    """

    channels: list[int]
    scores: torch.Tensor
    means: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor
    groups: torch.Tensor | None = None
    per_group: int | None = None

    @classmethod
    def empty(cls, channels: list[int], k: int, groups: torch.Tensor | None = None,
              per_group: int | None = None) -> TopK:
        c = len(channels)
        return cls(list(channels), torch.full((c, k), float("-inf")), torch.zeros(c, k),
                   torch.full((c, k), -1, dtype=torch.long), torch.zeros(c, k, 2, dtype=torch.long),
                   groups, per_group)

    @property
    def k(self) -> int:
        return self.scores.shape[1]

    @property
    def capped(self) -> bool:
        return self.groups is not None and self.per_group is not None

    def update(self, acts: torch.Tensor, image_indices: torch.Tensor) -> TopK:
        """Merge a batch of activations of images `image_indices`, in the layer's canonical view
        (`capture(..., canonical=True)`): (B, C_all, h, w) for maps and patch tokens, (B, C_all) for a
        vector (read as 1x1 maps)."""
        if acts.dim() == 2:
            acts = acts[:, :, None, None]
        if acts.dim() != 4:
            raise ValueError(f"top-k takes a canonical (B, C, h, w) or (B, C) view, got shape {tuple(acts.shape)}")
        acts = acts[:, self.channels].detach().float().cpu()
        batch, _, _, width = acts.shape
        flat = acts.flatten(2)  # (B, C, HW)
        best, where = flat.max(2)  # first maximal position on ties
        mean = flat.mean(2)
        pos = torch.stack([where // width, where % width], -1)  # (B, C, 2)
        images = image_indices.view(1, batch).expand(len(self.channels), batch)
        return self._combine(*(torch.cat(pair, 1) for pair in zip(
            self._columns(), (best.T, mean.T, images, pos.transpose(0, 1)))))

    def merge(self, other: TopK) -> TopK:
        """The top-k of the union of the images `self` and `other` saw (e.g. two shards of a pass):
        equal to one pass over both, ties kept by the lower image index."""
        if other.channels != self.channels or other.k != self.k:
            raise ValueError("only top-k states of the same channels and k merge")
        scores, means, images, positions = (torch.cat(pair, 1) for pair in zip(self._columns(), other._columns()))
        by_image = torch.sort(images, dim=1, stable=True).indices  # the candidates in image order, as one pass meets them
        return self._combine(scores.gather(1, by_image), means.gather(1, by_image), images.gather(1, by_image),
                             positions.gather(1, by_image[..., None].expand(-1, -1, 2)))

    def _columns(self) -> tuple[torch.Tensor, ...]:
        return self.scores, self.means, self.images, self.positions

    def _combine(self, scores, means, images, positions) -> TopK:
        """The k best of the candidate columns (in the order a pass meets them; stable on ties)."""
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices
        if not self.capped:
            order = order[:, :self.k]
            return TopK(self.channels, scores.gather(1, order), means.gather(1, order), images.gather(1, order),
                        positions.gather(1, order[..., None].expand(-1, -1, 2)))
        allowed = self._allowed(images.gather(1, order))
        first = torch.sort((~allowed).to(torch.int8), dim=1, stable=True).indices[:, :self.k]  # allowed first
        order, keep = order.gather(1, first), allowed.gather(1, first)  # fewer than k allowed: empty slots
        return TopK(self.channels, scores.gather(1, order).masked_fill(~keep, float("-inf")),
                    means.gather(1, order).masked_fill(~keep, 0.0), images.gather(1, order).masked_fill(~keep, -1),
                    positions.gather(1, order[..., None].expand(-1, -1, 2)).masked_fill(~keep[..., None], 0),
                    self.groups, self.per_group)

    def _allowed(self, ranked_images: torch.Tensor) -> torch.Tensor:
        """(C, n) candidates (best first) that a greedy pick keeps: real images whose group holds fewer
        than `per_group` better-ranked ones."""
        valid = ranked_images >= 0
        group = self.groups[ranked_images.clamp(min=0)]
        same = (group[:, :, None] == group[:, None, :]) & valid[:, None, :]  # (C, n, n)
        better = same & torch.ones_like(same[0]).tril(-1)  # column ranked before row
        return valid & (better.sum(2) < self.per_group)

    def state_dict(self) -> dict:
        return {"channels": self.channels, "scores": self.scores, "means": self.means, "images": self.images,
                "positions": self.positions}

    @classmethod
    def from_state_dict(cls, state: dict, groups: torch.Tensor | None = None, per_group: int | None = None) -> TopK:
        return cls(list(state["channels"]), state["scores"], state["means"], state["images"], state["positions"],
                   groups, per_group)
