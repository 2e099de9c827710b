"""deepinv-jitter: SGD jittering for unrolled reconstruction networks, as a DeepInverse plugin.

SGD jittering (Guan & Davenport, ICML 2025) injects fresh Gaussian noise into every iteration of an
unrolled network while it trains, and never at evaluation. This package provides the jittering
hook for deepinv's unfolded algorithms (GD, PGD, FISTA, HQS, DRS, ADMM, PDCP, DEQ), a
:class:`JitterTrainer` with the paper's training modes composed from perturbations, a seismic
deconvolution physics, and robustness evaluation.
"""

from .__about__ import __version__
from .optim.jitter import JitterGDIteration, JitterPGDIteration, jitterize, strip_jitter
from .physics.seismic import SeismicDeconvolution, ricker
from .selection import select_sigma
from .training.trainer import JitterTrainer

__all__ = [
    "__version__",
    "JitterTrainer",
    "JitterGDIteration",
    "JitterPGDIteration",
    "jitterize",
    "strip_jitter",
    "select_sigma",
    "load_model",
    "SeismicDeconvolution",
    "ricker",
]


def load_model(checkpoint, device: str = "cpu"):
    r"""The trained reconstructor of a checkpoint written by the command line (``train``,
    ``compare``, ``sweep``, ``generalization``), ready for evaluation.

    The network is rebuilt from the settings the checkpoint records, loaded with its weights and
    returned in eval mode; ``model.checkpoint_meta`` holds what the checkpoint says about it (its
    identity, the epochs it trained, provenance). A ``"sgd_jitter"`` model comes without noise
    hooks (:func:`strip_jitter` is implied: the saved weights are all there is). The checkpoint is
    read safely (tensors and plain values only).

    :param str checkpoint: the ``.pt`` file.
    :param str device: where to put the model.
    :return: (:class:`torch.nn.Module`) the model, called as ``model(y, physics)``.
    :raises FileNotFoundError: a missing file.
    :raises ValueError: a file that is not such a checkpoint, or weights that do not fit the
        recorded network.
    """
    from .experiments.runner import (
        load_model as _load,  # the application knows the tasks
    )

    return _load(checkpoint, device)
