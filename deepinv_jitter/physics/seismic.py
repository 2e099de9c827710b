"""Seismic deconvolution physics (placeholder: being built under the seismic issue)."""


def ricker(n_taps=51, a=4.0):
    raise NotImplementedError("ricker is being built under the seismic issue")


class SeismicDeconvolution:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("SeismicDeconvolution is being built under the seismic issue")
