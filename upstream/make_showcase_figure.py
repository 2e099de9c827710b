"""Make the showcase figure from the gallery example of patch 0005.

Runs ``examples/unfolded/demo_sgd_jittering.py`` of a patched deepinv tree (the one check.sh
builds) and draws, for the first test section, the reflectivity, the measurement and each
network's reconstruction from the clean and from the attacked measurement, with their PSNR.

    python upstream/make_showcase_figure.py PATCHED_TREE [OUT.png]

Needs a Python with the patched deepinv installed (e.g. check.sh's ``venv/bin/python``).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(tree: str, out: str) -> None:
    os.chdir(tree)
    ns = runpy.run_path("examples/unfolded/demo_sgd_jittering.py", run_name="__main__")
    x, y, results, psnr = ns["x"], ns["y"], ns["results"], ns["psnr"]
    names = list(results)
    fig, axes = plt.subplots(2, len(names) + 1, figsize=(3 * (len(names) + 1), 6.2))
    show = dict(cmap="seismic", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    axes[0, 0].imshow(x[0, 0].cpu(), **show)
    axes[0, 0].set_title("reflectivity (truth)")
    axes[1, 0].imshow(y[0, 0].cpu(), **show)
    axes[1, 0].set_title("measurement")
    for j, name in enumerate(names, start=1):
        for i, (rec, what) in enumerate(zip(results[name], ("clean", "attacked"))):
            value = psnr(rec[:1], x[:1]).item()
            axes[i, j].imshow(rec[0, 0].cpu(), **show)
            axes[i, j].set_title(f"{name}\n{what} y: {value:.1f} dB")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].set_xlabel("trace")
    axes[1, 0].set_ylabel("time sample")
    fig.suptitle(
        "Unfolded PGD for seismic deconvolution: plain training vs. SGD jittering "
        "vs. input jittering (L2 attack, 10% of ||y||)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    default = Path(__file__).resolve().parent / "showcase_sgd_jittering.png"
    main(
        sys.argv[1], str(Path(sys.argv[2] if len(sys.argv) == 3 else default).resolve())
    )
