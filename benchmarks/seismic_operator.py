"""Speed and memory of SeismicDeconvolution against the paper's dense matrix and numpy.

Measures, in one run, the time of one forward + adjoint pass (``A`` then ``A_adjoint``) and the peak
extra memory of that pass for:

- ``operator``: :class:`deepinv_jitter.physics.SeismicDeconvolution` with ``method="auto"`` (the method
  it picked is shown in brackets);
- ``dense matrix``: the paper's formulation, a ``(T, T)`` convolution matrix built once and applied with
  ``torch.matmul`` (its memory includes the matrix, which the paper keeps for the whole run);
- ``numpy per-trace``: ``np.convolve(trace, w, "same")`` and ``np.correlate`` looped over every trace.

Timings are medians over interleaved repetitions (so that load from other processes hits every
contestant alike). Peak memory is measured in a fresh Python process per contestant: the growth of
the resident set high-water mark (Linux ``/proc/self/clear_refs`` resets it) while the contestant is
built and run once, with glibc's mmap threshold pinned so that freed memory cannot hide new
allocations. It counts the dense matrix and every temporary, not the input ``x``. Ratios are
relative to the dense matrix (``speed x`` > 1: faster than dense).

With ``--blur`` it instead compares the operator with deepinv's own 2-D convolution,
``deepinv.physics.Blur(filter=w.view(1, 1, L, 1), padding="constant")``, which is the same linear
operator for an odd wavelet length: first the accuracy (float64, ``A`` and ``A_adjoint``, odd and
even ``L``), then the time of ``A`` and of ``A_adjoint`` separately (float32, medians over
interleaved repetitions), with ``Blur / operator`` time ratios (> 1: the operator is faster).

Run::

    OMP_NUM_THREADS=2 python benchmarks/seismic_operator.py            # B=8, N=352, T=352,2048,8192
    python benchmarks/seismic_operator.py --times 352 1024 --repeats 3  # quicker
    OMP_NUM_THREADS=2 python benchmarks/seismic_operator.py --blur --times 352 2048  # vs deepinv Blur
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from deepinv_jitter.physics.seismic import SeismicDeconvolution, ricker


def _rss_kib() -> tuple[int, int]:
    """Current resident set and its high-water mark, in KiB (Linux)."""
    with open("/proc/self/status") as f:
        status = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    return rss, hwm


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_extra_mib(make_fn, x) -> float:
    """Peak memory (MiB) of building the contestant with ``make_fn()`` and running it once on ``x``."""
    gc.collect()
    if not _reset_peak():
        return float("nan")
    base, _ = _rss_kib()
    fn = make_fn()
    out = fn(x)
    _, hwm = _rss_kib()
    del out, fn
    gc.collect()
    return (hwm - base) / 1024


def dense_contestant(w: torch.Tensor, T: int):
    """The paper's operator: a dense (T, T) cropped convolution matrix, built once."""
    L = w.numel()
    c = (L - 1) // 2
    full = torch.zeros(T + L - 1, T)
    for s in range(T):  # column s of the full convolution matrix holds w, shifted by s
        full[s : s + L, s] = w
    M = full[c : c + T].contiguous()
    del full

    def fn(x):
        return torch.matmul(M.mT, torch.matmul(M, x))

    return fn


def numpy_contestant(w: torch.Tensor):
    wn = w.double().numpy().astype(np.float32)
    L = wn.size
    c = (L - 1) // 2

    def fn(x):
        xn = x.numpy()
        B, C, T, N = xn.shape
        out = np.empty_like(xn)
        for b in range(B):
            for ch in range(C):
                for n in range(N):
                    y = np.convolve(xn[b, ch, :, n], wn, "full")[c : c + T]
                    # the adjoint: correlation, written as convolution with the flipped wavelet
                    out[b, ch, :, n] = np.convolve(y, wn[::-1], "full")[
                        L - 1 - c : L - 1 - c + T
                    ]
        return out

    return fn


def operator_contestant(method: str = "auto"):
    physics = SeismicDeconvolution(method=method)

    def fn(x):
        return physics.A_adjoint(physics.A(x))

    fn.physics = physics
    return fn


def blur_physics(w: torch.Tensor):
    """deepinv's Blur with the wavelet as an ``(L, 1)`` filter: convolution along time, zero padding."""
    import deepinv as dinv

    return dinv.physics.Blur(filter=w.view(1, 1, -1, 1), padding="constant")


def blur_accuracy(T: int, args) -> list[str]:
    """Largest differences between Blur and the operator, relative to the operator's largest output."""
    lines = []
    gen = torch.Generator().manual_seed(0)
    for L in (51, 50):
        w = ricker(L, 4.0, dtype=torch.float64)
        ours = SeismicDeconvolution(wavelet=w)
        blur = blur_physics(w)
        x = torch.randn(
            args.batch, 1, T, args.traces, dtype=torch.float64, generator=gen
        )
        y = torch.randn(
            args.batch, 1, T, args.traces, dtype=torch.float64, generator=gen
        )
        a, at = ours.A(x), ours.A_adjoint(y)
        da = float((blur.A(x) - a).abs().max() / a.abs().max())
        dat = float((blur.A_adjoint(y) - at).abs().max() / at.abs().max())
        line = f"L={L}: A {da:.1e}, A_adjoint {dat:.1e}"
        if L % 2 == 0:
            # Blur puts zero lag on the right one of the two middle taps, numpy's "same" (and the
            # operator) on the left one: appending a zero tap makes the two equal
            padded = SeismicDeconvolution(wavelet=torch.cat([w, w.new_zeros(1)]))
            dp = float((blur.A(x) - padded.A(x)).abs().max() / a.abs().max())
            dpt = float(
                (blur.A_adjoint(y) - padded.A_adjoint(y)).abs().max() / at.abs().max()
            )
            line += (
                " (a one-sample shift; against the wavelet with a zero tap appended: "
                f"{dp:.1e}, {dpt:.1e})"
            )
        lines.append(line)
    return lines


def compare_with_blur(args) -> None:
    """Accuracy and speed of the operator against deepinv's Blur, A and A_adjoint separately."""
    torch.manual_seed(0)
    w = ricker(51, 4.0)
    ours = SeismicDeconvolution(wavelet=w)
    blur = blur_physics(w)
    print(
        f"B={args.batch}, C=1, N={args.traces}, wavelet ricker(51, 4.0), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        'deepinv Blur(filter=w.view(1, 1, L, 1), padding="constant") against SeismicDeconvolution'
    )
    for T in args.times:
        print(
            f"T={T}, float64, max |Blur - operator| / max |operator|: "
            + "; ".join(blur_accuracy(T, args))
        )
    header = f"{'T':>6} | {'pass':<10} | {'operator ms':>16} | {'Blur ms':>9} | "
    header += f"{'Blur / operator':>15}"
    print(header)
    print("-" * len(header))
    for T in args.times:
        x = torch.randn(args.batch, 1, T, args.traces)
        fns = {
            ("A", "operator"): ours.A,
            ("A", "Blur"): blur.A,
            ("A_adjoint", "operator"): ours.A_adjoint,
            ("A_adjoint", "Blur"): blur.A_adjoint,
        }
        for fn in fns.values():  # warm-up: caches (dense matrix, spectra), thread pools
            fn(x)
        times = {key: [] for key in fns}
        order = list(fns.items())
        for r in range(args.repeats):
            for key, fn in order if r % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                fn(x)
                times[key].append(time.perf_counter() - t0)
        med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
        for p in ("A", "A_adjoint"):
            ours_ms, blur_ms = med[(p, "operator")], med[(p, "Blur")]
            label = f"{ours_ms:.1f} [{ours.resolve_method(T)}]"
            print(
                f"{T:>6} | {p:<10} | {label:>16} | {blur_ms:9.1f} | {blur_ms / ours_ms:15.2f}"
            )
        del x, fns
        gc.collect()


_MAKERS = {
    "operator": lambda w, T: operator_contestant(),
    "dense matrix": lambda w, T: dense_contestant(w, T),
    "numpy per-trace": lambda w, T: numpy_contestant(w),
}


def _memory_in_child(T: int, name: str, args) -> float:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    cmd = [sys.executable, __file__, "--memory-of", name, "--times", str(T)]
    cmd += ["--batch", str(args.batch), "--traces", str(args.traces)]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--traces", type=int, default=352)
    parser.add_argument("--times", type=int, nargs="+", default=[352, 2048, 8192])
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed repetitions per contestant"
    )
    parser.add_argument(
        "--max-dense-gib",
        type=float,
        default=2.0,
        help="skip the dense matrix above this size",
    )
    parser.add_argument(
        "--blur",
        action="store_true",
        help="compare with deepinv's Blur (accuracy, and time of A and A_adjoint) instead",
    )
    parser.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.blur:
        compare_with_blur(args)
        return

    # child process: print one peak-memory number and exit
    if args.memory_of is not None:
        torch.manual_seed(0)
        w = ricker(51, 4.0)
        x = torch.randn(args.batch, 1, args.times[0], args.traces)
        print(peak_extra_mib(lambda: _MAKERS[args.memory_of](w, args.times[0]), x))
        return

    torch.manual_seed(0)
    w = ricker(51, 4.0)
    print(
        f"B={args.batch}, C=1, N={args.traces}, wavelet ricker(51, 4.0), float32, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; forward + adjoint per pass"
    )
    header = (
        f"{'T':>6} | {'contestant':<22} | {'time ms':>9} | {'peak MiB':>9} | "
        f"{'speed x':>8} | {'memory x':>8}"
    )
    print(header)
    print("-" * len(header))
    for T in args.times:
        x = torch.randn(args.batch, 1, T, args.traces)
        makers = {"operator": operator_contestant}
        if T * T * 4 / 2**30 <= args.max_dense_gib:
            makers["dense matrix"] = lambda T=T: dense_contestant(w, T)
        makers["numpy per-trace"] = lambda: numpy_contestant(w)

        mem = {name: _memory_in_child(T, name, args) for name in makers}
        fns = {name: make() for name, make in makers.items()}
        reps = {}
        # warm-up (caches, thread pools); slow contestants repeat less
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(x)
            slow = time.perf_counter() - t0 > 1.0 or name == "numpy per-trace"
            reps[name] = max(1, args.repeats // 3) if slow else args.repeats
        times = {name: [] for name in fns}
        order = list(fns.items())
        for r in range(args.repeats):
            # alternate the order each round so that no contestant always runs first or last
            for name, fn in order if r % 2 == 0 else order[::-1]:
                if r >= reps[name]:
                    continue
                t0 = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - t0)
        med = {name: statistics.median(v) * 1e3 for name, v in times.items()}
        ref_t, ref_m = med.get("dense matrix"), mem.get("dense matrix")
        for name in fns:
            label = name
            if name == "operator":
                label = f"operator [{fns[name].physics.resolve_method(T)}]"
            sx = f"{ref_t / med[name]:8.2f}" if ref_t else f"{'-':>8}"
            mx = f"{mem[name] / ref_m:8.2f}" if ref_m else f"{'-':>8}"
            print(
                f"{T:>6} | {label:<22} | {med[name]:9.1f} | {mem[name]:9.1f} | {sx} | {mx}"
            )
        if "dense matrix" not in fns:
            print(
                f"{T:>6} | {'dense matrix':<22} | skipped: matrix above --max-dense-gib"
            )
        del fns, x
        gc.collect()


if __name__ == "__main__":
    main()
