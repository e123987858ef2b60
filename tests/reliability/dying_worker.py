"""A batch worker that dies as it starts, as one killed by the out-of-memory killer would
(imported by the worker processes of tests/batch/test_batch_limits.py)."""

import os


def die(*args) -> None:
    os._exit(137)
