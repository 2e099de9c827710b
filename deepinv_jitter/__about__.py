"""Version of the deepinv-jitter distribution (single source for packaging and ``__version__``)."""

__version__ = "0.3.0"
