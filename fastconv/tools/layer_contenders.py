"""Who is timed on a layer case: fastconv's ``auto`` and torch, at the
case's thread count (:mod:`.layer_cases`).

Like for like: the forward is ``fastconv.conv2d(x, w, bias, ...)`` against
``torch.nn.functional.conv2d`` under ``torch.no_grad()``; the backward is
``fastconv.conv2d_backward(x, w, grad_out, ...)`` (dx, dw and dbias)
against ``torch.autograd.grad`` of a graph built once (``retain_graph``),
so torch's time is its backward alone. Both see the same thread count
(``torch.set_num_threads``).
"""
from .._conv2d import conv2d
from ..grad import conv2d_backward
from ..settings import get_threads
from .contenders import Contender, Skip


def _auto(case, x, w, b, g):
    kw = case.kw
    if case.backward:
        return lambda: conv2d_backward(x, w, g, **kw)
    return lambda: conv2d(x, w, b, **kw)


def _torch(case, x, w, b, g):
    try:
        import torch
    except ImportError as exc:
        raise Skip(f"torch not installed ({exc})") from None
    torch.set_num_threads(get_threads())
    F, kw = torch.nn.functional, case.kw
    if case.backward:
        xt, wt, bt = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
        yt = F.conv2d(xt, wt, bt, **kw)
        gt = torch.from_numpy(g)
        return lambda: tuple(t.numpy() for t in torch.autograd.grad(yt, (xt, wt, bt), gt, retain_graph=True))
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))

    def forward():
        with torch.no_grad():
            return F.conv2d(xt, wt, bt, **kw).numpy()

    return forward


def layer_contenders():
    """``auto`` and torch, in table order."""
    return [Contender("auto", "auto", _auto), Contender("torch", "peer", _torch)]


def auto_choice(case, x, w):
    """What ``auto`` runs: the forward's backend (``fastconv.explain``), and
    for a backward case also the weight gradient's path (``_grad_weight.path``)."""
    from .. import _grad_weight
    from ..planner import explain

    try:
        forward = str(explain(x, w, **case.kw).backend)
    except Exception:
        forward = "?"
    if not case.backward:
        return forward
    groups = case.kw.get("groups", 1)
    return f"fwd {forward}, dw {_grad_weight.path(x.shape, w.shape, groups, case.geometry(), x.dtype)}"
