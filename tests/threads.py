"""A check for models that RunInference shares between a worker's threads."""
from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence

import numpy as np


def assert_each_concurrent_call_gets_its_own_result(run: Callable[[np.ndarray], np.ndarray],
                                                    inputs: Sequence[np.ndarray], calls: int,
                                                    threads: int = 4) -> None:
    """`run` called `calls` times on `threads` threads at once, cycling through `inputs`: every
    result must equal (1e-5) what a lone call on the same input gave."""
    expected = [run(rows) for rows in inputs]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda k: (k % len(inputs), run(inputs[k % len(inputs)])), range(calls)))
    for k, got in results:
        np.testing.assert_allclose(got, expected[k], rtol=1e-5, atol=1e-5)
