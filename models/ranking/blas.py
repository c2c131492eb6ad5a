"""One BLAS thread around factor maths (far faster on a busy pool); the library scan is cached,
as `threadpool_limits` rescans on every call (~0.5 ms, too slow per request)."""

from __future__ import annotations

import functools
from typing import Any

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    import implicit.cpu.als  # noqa: F401  (load implicit's and scipy's BLAS before the scan)
    import numpy  # noqa: F401

    return ThreadpoolController()


def one_blas_thread() -> Any:
    """Context manager limiting every loaded BLAS to one thread."""
    return _controller().limit(limits=1, user_api="blas")
