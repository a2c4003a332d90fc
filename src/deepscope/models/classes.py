"""ImageNet-1k class names, in the standard index order (0 = tench), available offline."""
import numbers
from collections.abc import Sequence
from functools import lru_cache

from deepscope.errors import DeepscopeError, unknown_name_error

MAX_LISTED = 8  # matches an ambiguous class name lists


@lru_cache(maxsize=1)
def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names torchvision ships with its weight metadata (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def classes_for(num_outputs: int) -> list[str] | None:
    """Class names for a classifier head of `num_outputs` outputs, when known."""
    return imagenet_classes() if num_outputs == 1000 else None


def lookup_class(classes: Sequence[str] | None, label: str | int) -> int:
    """Index of a class of `classes` given its index, its name, or a unique part of its name."""
    n = len(classes) if classes else None
    if isinstance(label, numbers.Integral) or (isinstance(label, str) and label.strip().lstrip("-").isdigit()):
        idx = int(label)
        if n is not None and not 0 <= idx < n:
            raise unknown_name_error("class index", str(idx), [], f"valid indices are 0..{n - 1}")
        return idx
    if not classes:
        raise unknown_name_error("class", str(label), [], "this model has no class names: use an index")
    wanted = label.strip().lower().replace("_", " ")
    lowered = [c.lower() for c in classes]
    if wanted in lowered:
        return lowered.index(wanted)
    partial = [i for i, c in enumerate(lowered) if wanted in c]
    if len(partial) == 1:
        return partial[0]
    if partial:
        shown = ", ".join(f"{classes[i]} ({i})" for i in partial[:MAX_LISTED])
        more = f" and {len(partial) - MAX_LISTED} more" if len(partial) > MAX_LISTED else ""
        raise DeepscopeError(f"class {label!r} is ambiguous: {len(partial)} classes match ({shown}{more}); "
                             "give the exact name or its index")
    raise unknown_name_error("class", label, list(classes), "give the exact name or its index")
