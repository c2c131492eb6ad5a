"""One BLAS thread around factor maths (implicit's ALS and small products are far slower on a
busy thread pool). The library scan is done once: `threadpool_limits` rescans on every call
(~0.5 ms, too slow per request); the cached controller only flips the thread count.
"""

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
