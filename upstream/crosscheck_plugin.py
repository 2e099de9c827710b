"""Cross-check: deepinv's patched iterators (patch 0001) against the plugin's hook, bit for bit.

Run with a Python that has the patched deepinv tree and ``deepinv_jitter`` installed (check.sh
does). For every supported algorithm, both ``g_first`` orders where the algorithm has them, the
three scale rules and a DEQ model, two copies of one unfolded model are run in training mode:
one jittered by deepinv (``jitter=JitterConfig(...)``), one by the plugin (``jitterize``), each
with a generator seeded alike. The outputs and the gradients of the step sizes must be equal,
bit for bit. Prints one line per case and exits non-zero on any difference.
"""

from __future__ import annotations

import copy
import sys

import deepinv as dinv
import torch

from deepinv_jitter import jitterize

CASES = [
    ("GD", False),
    ("PGD", False),
    ("PGD", True),
    ("FISTA", False),
    ("FISTA", True),
    ("HQS", False),
    ("HQS", True),
    ("DRS", False),
    ("DRS", True),
    ("ADMM", False),
    ("ADMM", True),
    ("PDCP", False),
    ("PDCP", True),
]


def build(algo: str, g_first: bool, deq: bool = False):
    physics = dinv.physics.Blur(
        filter=dinv.physics.functional.gaussian_blur(sigma=(1.0, 1.0)),
        padding="circular",
    )
    denoiser = dinv.models.DnCNN(1, 1, depth=2, nf=4, pretrained=None)
    # an explicit step on the prior (GD; PGD and FISTA with g_first) needs its gradient
    explicit = algo == "GD" or (g_first and algo in ("PGD", "FISTA"))
    prior = dinv.optim.RED(denoiser) if explicit else dinv.optim.PnP(denoiser)
    kwargs = dict(
        data_fidelity=dinv.optim.L2(),
        prior=prior,
        stepsize=0.5,
        g_param=0.05,
        max_iter=3,
        trainable_params=["stepsize"],
    )
    if deq:
        kwargs.update(DEQ=dinv.optim.DEQConfig(max_iter_backward=3))
    else:
        kwargs.update(unfold=True)
    if algo != "GD":
        kwargs["g_first"] = g_first
    return getattr(dinv.optim, algo)(**kwargs), physics


def run(model, physics, y, x):
    model.train()
    model.zero_grad()
    out = model(y, physics)
    (out - x).pow(2).sum().backward()
    grads = [p.grad.clone() for p in model.params_algo["stepsize"]]
    return out.detach(), grads


def main() -> int:
    torch.manual_seed(0)
    x = torch.rand(2, 1, 12, 12)
    failures = 0
    cases = [(a, g, False) for a, g in CASES] + [
        ("PGD", False, True),
        ("HQS", False, True),
    ]
    for algo, g_first, deq in cases:
        for scale in ("iterate", "relative", "absolute"):
            torch.manual_seed(1)
            base, physics = build(algo, g_first, deq)
            y = physics(x)
            mine = copy.deepcopy(base)
            mine.fixed_point.iterator.set_jitter(
                dinv.optim.JitterConfig(0.2, scale, torch.Generator().manual_seed(7))
            )
            theirs = jitterize(
                copy.deepcopy(base), 0.2, scale, torch.Generator().manual_seed(7)
            )
            out_a, g_a = run(mine, physics, y, x)
            out_b, g_b = run(theirs, physics, y, x)
            plain, _ = run(copy.deepcopy(base), physics, y, x)
            same = torch.equal(out_a, out_b) and all(
                torch.equal(a, b) for a, b in zip(g_a, g_b, strict=True)
            )
            noisy = not torch.equal(out_a, plain)
            ok = same and noisy
            failures += not ok
            name = f"{algo}{' DEQ' if deq else ''} g_first={g_first} scale={scale}"
            print(
                f"{'ok  ' if ok else 'FAIL'} {name}: outputs and step-size gradients "
                f"{'bit-identical' if same else 'DIFFER'} to the plugin's hook"
                f"{'' if noisy else ' (but no noise was drawn)'}",
                flush=True,
            )
    print(f"crosscheck: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
