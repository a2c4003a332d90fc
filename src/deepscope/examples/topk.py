"""Running top-k per channel, kept in tensors and merged batch by batch.

A channel's score for an image is the spatial max of its activation map (the strongest position,
as Zeiler & Fergus show; over the patch grid of a token layer; the value itself for a vector layer);
the spatial mean is stored beside it. Ties keep the earlier image, so the result equals a stable
sort of every image's score, whatever the batching.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TopK:
    """For each of `channels` (C of them): the k best images so far, best first.

    `scores` (C, k) spatial max, `means` (C, k) spatial mean, `images` (C, k) image index (-1 where
    fewer than k images were seen), `positions` (C, k, 2) grid (y, x) of the max.
    """

    channels: list[int]
    scores: torch.Tensor
    means: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor

    @classmethod
    def empty(cls, channels: list[int], k: int) -> TopK:
        c = len(channels)
        return cls(list(channels), torch.full((c, k), float("-inf")), torch.zeros(c, k),
                   torch.full((c, k), -1, dtype=torch.long), torch.zeros(c, k, 2, dtype=torch.long))

    @property
    def k(self) -> int:
        return self.scores.shape[1]

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
        scores = torch.cat([self.scores, best.T], 1)
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :self.k]
        images = torch.cat([self.images, image_indices.view(1, batch).expand(len(self.channels), batch)], 1)
        positions = torch.cat([self.positions, pos.transpose(0, 1)], 1)
        return TopK(self.channels, scores.gather(1, order), torch.cat([self.means, mean.T], 1).gather(1, order),
                    images.gather(1, order), positions.gather(1, order[..., None].expand(-1, -1, 2)))

    def state_dict(self) -> dict:
        return {"channels": self.channels, "scores": self.scores, "means": self.means, "images": self.images,
                "positions": self.positions}

    @classmethod
    def from_state_dict(cls, state: dict) -> TopK:
        return cls(list(state["channels"]), state["scores"], state["means"], state["images"], state["positions"])
