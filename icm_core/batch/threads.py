"""Thread limits while matting, the same in every mode, so that a single process, pooled workers
and Ray actors write the same bits (this relies on the engine's results not depending on
OpenCV's thread count, which holds for lite: tests check it)."""

from __future__ import annotations

import sys
from collections.abc import Callable

# torch (icm) and BLAS threads while matting a target, in every mode.  Their sums (convolutions, dot
# products in the matting solver) are added in an order that depends on the thread count, so the
# last bits would differ between a multi-threaded single process and single-threaded workers.
# OpenCV's parallel loops split independent rows: those use a worker's share of cores.
TARGET_THREADS = 1


def worker_environment() -> dict[str, str]:
    """Thread-pool sizes for a worker process, read by OpenMP and BLAS when they load: each
    ``TARGET_THREADS``, whatever the worker's share of the cores (OpenCV's share is set by
    :func:`set_threads` in the worker)."""
    fixed = str(TARGET_THREADS)
    return {"OMP_NUM_THREADS": fixed, "MKL_NUM_THREADS": fixed, "OPENBLAS_NUM_THREADS": fixed}


def set_threads(share: int) -> Callable[[], None]:
    """Size this process's thread pools for matting: OpenCV gets ``share`` threads, torch and
    BLAS ``TARGET_THREADS``; returns a function that restores the previous sizes."""
    import cv2
    from threadpoolctl import threadpool_limits

    # only the icm engine uses torch (lite never imports it); a worker process gets it from
    # OMP_NUM_THREADS (worker_environment) when its engine loads
    torch = sys.modules.get("torch")
    saved = torch and torch.get_num_threads(), cv2.getNumThreads()
    if torch:
        torch.set_num_threads(TARGET_THREADS)
    cv2.setNumThreads(share)
    blas = threadpool_limits(TARGET_THREADS, user_api="blas")

    def restore() -> None:
        blas.restore_original_limits()
        if torch:
            torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])

    return restore
