"""Atomic file output, shared by the runtime (model metadata) and the host tools (exports, quantized models, caches)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(dst: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[str]:
    """Yields a temporary path beside ``dst``; when the block succeeds it replaces ``dst`` in one step.

    The new file keeps ``dst``'s permissions when ``dst`` exists, else it gets a new
    file's (``0666 & ~umask``; ``mkstemp`` alone would leave it 0600). When the block
    raises, the temporary file is removed and ``dst`` is untouched. ``suffix`` is the
    temporary name's ending (some writers, such as ``numpy.savez``, want their own).
    """
    dst = Path(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=suffix, dir=dst.parent if str(dst.parent) else ".")
    os.close(fd)
    try:
        yield tmp
        if dst.exists():
            mode = stat.S_IMODE(os.stat(dst).st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
