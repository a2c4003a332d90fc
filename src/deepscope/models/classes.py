"""ImageNet-1k class names, in the standard index order (0 = tench), available offline."""
from functools import lru_cache


@lru_cache(maxsize=1)
def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names torchvision ships with its weight metadata (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def classes_for(num_outputs: int) -> list[str] | None:
    """Class names for a classifier head of `num_outputs` outputs, when known."""
    return imagenet_classes() if num_outputs == 1000 else None
