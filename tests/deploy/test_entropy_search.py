"""The vectorised KL threshold search equals a plain loop implementation of the MXNet/TensorRT
algorithm, and behaves as entropy calibration should (clips rare outliers, keeps dense ranges)."""
import numpy as np
import pytest

from yolactedge.deploy.entropy import entropy_ranges, kl_threshold


def _loop_reference(hist, edges, nq=128, eps=1e-4):
    """MXNet's _get_optimal_threshold search, written plainly."""
    hist = hist.astype(np.float64)
    zero, half = hist.size // 2, nq // 2
    best, best_kl = None, np.inf
    for i in range(half, zero + 1):
        start, end = zero - i, min(zero + i + 1, hist.size)
        sliced = hist[start:end]
        p = sliced.copy()
        p[0] += hist[:start].sum()
        p[-1] += hist[end:].sum()
        merged = sliced.size // nq
        quantized = np.array([sliced[j * merged:(j + 1) * merged if j < nq - 1 else None].sum() for j in range(nq)])
        q = np.zeros(sliced.size)
        for j in range(nq):
            stop = (j + 1) * merged if j < nq - 1 else sliced.size
            nonzero = (p[j * merged:stop] != 0).sum()
            if nonzero:
                q[j * merged:stop] = quantized[j] / nonzero
        q[p == 0] = 0

        def smooth(d):
            zeros = d == 0
            if zeros.all():
                return None
            return d + np.where(zeros, eps, -eps * zeros.sum() / (~zeros).sum())

        ps, qs = smooth(p), smooth(q)
        if ps is None or qs is None:
            continue
        ps, qs = ps / ps.sum(), qs / qs.sum()
        kl = np.sum(ps * np.log(ps / qs))
        if kl < best_kl:
            best_kl, best = kl, (edges[start], edges[end])
    return best


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_search_equals_the_loop(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(50_000) * rng.random(50_000) ** (seed + 1)
    if seed % 2:
        x = np.maximum(x, 0)  # ReLU-like: empty negative half
    t = np.abs(x).max()
    hist, edges = np.histogram(x, 512, range=(-t, t))
    assert kl_threshold(hist, edges) == pytest.approx(_loop_reference(hist, edges), abs=1e-9)


def test_outliers_are_clipped_and_dense_ranges_kept():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(100_000), [40.0, -35.0]])  # two far outliers
    t = np.abs(x).max()
    hist, edges = np.histogram(x, 2048, range=(-t, t))
    low, high = kl_threshold(hist, edges)
    assert 2.5 < high < 10 and -10 < low < -2.5
    u = rng.uniform(-1, 1, 100_000)
    hist, edges = np.histogram(u, 2048, range=(-1, 1))
    low, high = kl_threshold(hist, edges)
    assert high > 0.9 and low < -0.9
    hist, edges = np.histogram(u, 64, range=(-1, 1))  # fewer bins than levels: nothing to search
    assert kl_threshold(hist, edges) == (-1.0, 1.0)


def test_ranges_are_clipped_to_the_observed_values():
    x = np.abs(np.random.default_rng(1).standard_normal(10_000)).astype(np.float32)
    t = np.float32(x.max())
    hist, edges = np.histogram(x, 256, range=(-t, t))
    ranges = entropy_ranges({"relu_out": (hist, edges.astype(np.float32), x.min(), x.max(), t)})
    low, high, *_ = ranges["relu_out"]
    assert low.dtype == np.float32 and float(low) >= float(x.min()) and 0 < float(high) <= float(x.max())
