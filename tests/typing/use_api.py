"""A user's script calling every name in ``fastconv.__all__``.

CI runs ``mypy --strict`` on it against the installed package (which ships
``py.typed``) and then runs it. ``assert_type`` pins what mypy infers: a
result that became ``Any`` would fail the check. (It is not collected by
pytest: no ``test_`` prefix.)
"""
import io
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

import fastconv
from fastconv import kernels

if sys.version_info >= (3, 11):
    from typing import assert_type
else:  # pragma: no cover - mypy reads the branch for the running version
    from typing_extensions import assert_type

FloatArray = npt.NDArray[np.floating[Any]]
ImageArray = npt.NDArray[Any]  # the image functions: float, complex or (dtype=) integer results


def images() -> None:
    X = np.arange(9.0).reshape(3, 3)
    K = [[0.0, 1.0], [2.0, 3.0]]
    Y = fastconv.corr2d(X, K, padding="same", stride=(1, 1), mode="reflect", backend="auto")
    assert_type(Y, ImageArray)
    assert Y.shape == (3, 3)
    assert_type(fastconv.convolve2d(X, K, padding=((0, 1), (1, 0))), ImageArray)
    assert_type(fastconv.fast_lane(X, K, padding="same"), str)
    rgb = np.zeros((4, 5, 3), np.uint8)
    Y8 = fastconv.corr2d(rgb, kernels.box(3, dtype=np.float32), padding="same", mode="nearest", axes=(0, 1),
                         dtype=np.uint8, out=np.empty((4, 5, 3), np.uint8))
    assert_type(Y8, ImageArray)
    assert Y8.shape == (4, 5, 3) and Y8.dtype == np.uint8
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastconv.IgnoredArgumentWarning)
        try:
            fastconv.corr2d(X, K, mode="edge")  # pads nothing: mode cannot apply
        except fastconv.IgnoredArgumentWarning as caught:
            assert isinstance(caught, UserWarning)
        else:
            raise AssertionError("no IgnoredArgumentWarning")
    assert_type(fastconv.output_shape((8, 8), (3, 5), padding=(0, 1), stride=(3, 4)), tuple[int, int])
    cols = fastconv.im2col(X, (2, 2))
    assert_type(cols, FloatArray)
    dense = fastconv.as_matrix(np.asarray(K), X.shape, sparse=False)
    assert_type(dense, FloatArray)
    assert np.allclose(dense @ X.ravel(), cols @ np.ravel(K))
    W = fastconv.as_matrix(np.asarray(K), X.shape)  # a scipy.sparse CSR array (scipy is untyped: Any)
    assert np.allclose(W @ X.ravel(), [19, 25, 37, 43])

    grads = fastconv.corr2d_backward(X, K, np.ones((2, 2)), needs="K")
    assert_type(grads, fastconv.CorrGrads)
    assert_type(grads.X, Optional[FloatArray])
    assert grads.X is None and grads.K is not None
    assert isinstance(fastconv.CorrGrads(None, grads.K), tuple)

    rf = fastconv.receptive_field([2, 2], input_shape=(3, 3))
    assert_type(rf.size, tuple[int, int])
    assert_type(rf.region(0, 0, 0), tuple[slice, slice])
    assert X[rf.region(0, 0, 0)].tolist() == [[0.0, 1.0], [3.0, 4.0]]


def layers() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(x, w, np.zeros(4, np.float32), padding=1)
    assert_type(y, FloatArray)
    g = fastconv.conv2d_backward(x, w, np.ones_like(y), padding=1, needs=("x", "weight"))
    assert_type(g, fastconv.ConvGrads)
    assert_type(g.weight, Optional[FloatArray])
    assert g.bias is None and g.weight is not None and g.weight.shape == w.shape
    assert isinstance(fastconv.ConvGrads(g.x, g.weight, None), tuple)

    wt = rng.standard_normal((4, 2, 2, 2)).astype(np.float32)
    up = fastconv.conv_transpose2d(y, wt, None, stride=2)
    assert_type(up, FloatArray)
    assert up.shape == (2, 2, 16, 16)
    gt = fastconv.conv_transpose2d_backward(y, wt, np.ones_like(up), stride=2, needs="weight")
    assert_type(gt, fastconv.ConvGrads)

    layer = fastconv.Conv2D(3, in_channels=3, out_channels=4, padding=1, init="kaiming", seed=0)
    out = layer(x)
    assert_type(out, FloatArray)
    assert_type(layer.backward(np.ones_like(out)), FloatArray)
    assert_type(layer.grad_weight, Optional[FloatArray])
    layer.step(0.01)
    assert_type(layer.parameters(), list[FloatArray])


def planner_and_settings() -> None:
    X, K = np.ones((64, 64), np.float32), np.ones((3, 3), np.float32)
    p = fastconv.plan(X, K, padding="same")
    assert_type(p.backend, str)
    assert_type(p.predicted, dict[str, float])
    assert p.backend in fastconv.available_backends()
    assert_type(fastconv.explain(X, K).reason, str)
    rgb = np.ones((32, 32, 3), np.uint8)
    assert_type(fastconv.plan(rgb, np.ones((3, 5, 5)), axes=(0, 1), dtype=np.float32, padding="same").backend, str)
    assert_type(fastconv.available_backends(), list[str])
    assert_type(fastconv.warm(["float64"]), dict[str, float])

    with tempfile.TemporaryDirectory() as tmp:
        path = fastconv.export_wisdom(Path(tmp) / "wisdom.json")
        assert_type(path, str)
        fastconv.import_wisdom(path)
    fastconv.forget_wisdom()
    assert_type(fastconv.calibrate(save=False), dict[str, Any])

    fastconv.set_exact(True)
    exact: bool = fastconv.get_exact()
    fastconv.set_exact(None)
    assert exact

    threads: int = fastconv.get_threads()
    fastconv.set_threads(1)
    fastconv.set_threads(None)
    limit: int = fastconv.get_workspace_limit()
    fastconv.set_workspace_limit(2**20)
    fastconv.set_workspace_limit(None)
    assert threads >= 1 and limit >= 1

    report = io.StringIO()
    fastconv.show_config(report)
    assert "backends" in report.getvalue()
    assert isinstance(fastconv.__version__, str)


def chapter_kernels() -> None:
    assert_type(kernels.edge((1, 0)), FloatArray)
    assert_type(kernels.finite_difference(2), FloatArray)
    assert_type(kernels.laplacian(), FloatArray)
    assert_type(kernels.box(3), FloatArray)
    assert_type(kernels.gaussian(1.0), FloatArray)
    gx, gy = kernels.sobel()
    assert_type(gx, FloatArray)
    assert_type(kernels.scharr(normalize=True), tuple[FloatArray, FloatArray])


CALLED = {
    "Conv2D", "ConvGrads", "CorrGrads", "as_matrix", "available_backends", "calibrate", "conv2d", "conv2d_backward",
    "conv_transpose2d", "conv_transpose2d_backward", "convolve2d", "corr2d", "corr2d_backward", "explain",
    "export_wisdom", "fast_lane", "forget_wisdom", "get_exact", "get_threads", "get_workspace_limit", "im2col", "import_wisdom",
    "kernels", "output_shape", "plan", "receptive_field", "set_exact", "set_threads", "set_workspace_limit",
    "show_config", "warm", "IgnoredArgumentWarning",
}

if __name__ == "__main__":
    missing = set(fastconv.__all__) - CALLED
    assert not missing, f"fastconv.__all__ has names this script does not call: {sorted(missing)}"
    images()
    layers()
    planner_and_settings()
    chapter_kernels()
    print(f"use_api: every name in fastconv.__all__ ({len(fastconv.__all__)}) called")
