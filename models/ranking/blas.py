"""One BLAS thread around factor maths.

implicit's ALS is much slower with a BLAS thread pool, and a 50k x 64 matrix-vector product
is ~20x slower when OpenBLAS spreads it over busy cores. `threadpool_limits(1, "blas")`
rescans the loaded libraries on every call (~0.5 ms), too slow per request, so the scan is
done once and the cached controller only flips the thread count (~10 us).
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
