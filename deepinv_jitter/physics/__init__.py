"""Forward operators that deepinv lacks."""

from .seismic import SeismicDeconvolution, ricker

__all__ = ["SeismicDeconvolution", "ricker"]
