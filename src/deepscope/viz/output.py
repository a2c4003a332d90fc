"""Output folders: created up front, and a clear error when they cannot be written."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from deepscope.errors import DeepscopeError
from deepscope.jobs import write_text


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create `path` if needed and check that files can be written there (before any work)."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        raise DeepscopeError(f"cannot write to output folder {str(out)!r} ({err.strerror or err}); "
                             "choose another --out") from err
    return out


write_atomic = write_text  # the old name of `deepscope.jobs.write_text`
