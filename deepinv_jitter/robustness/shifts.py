"""Out-of-distribution edits applied to test batches, one per task.

Each edit is a pure function of a batch ``x`` (and a seed or ``torch.Generator``) that returns a new
tensor; the input is never modified in place.
"""

from .._checks import check_rng

# --- seismic: a flat segment of fixed amplitude (seismic issue) -----------------------------------


def add_flat_segment(
    x,
    amplitude: float = -0.1,
    length: int | None = None,
    thickness: int = 1,
    time_index: int | None = None,
    trace_start: int | None = None,
    seed: int | None = None,
    rng=None,
    return_mask: bool = False,
):
    r"""Insert a short horizontal segment of fixed amplitude into each seismic section.

    The seismic out-of-distribution edit of Guan & Davenport (2025): a flat event of constant
    reflectivity (``-0.1`` in the paper) that the layered training sections never contain, since
    there every reflector is a contrast between dipping or folded layers. For each section ``b``,

    .. math::

        x'[b, :, t, n] = a \quad \text{for } t_b \le t < t_b + h,\ n_b \le n < n_b + \ell,

    and :math:`x' = x` elsewhere (the segment replaces, not adds to, the values under it).

    :param torch.Tensor x: sections of shape ``(..., T, N)`` (e.g. ``(B, C, T, N)`` or ``(C, T, N)``);
        every leading index except the channel axis gets its own position: positions are drawn per
        index of the first dimension when ``x`` has 4 dimensions, once otherwise.
    :param float amplitude: value :math:`a` of the segment.
    :param int, None length: segment length :math:`\ell` in traces; default ``max(1, N // 8)``.
    :param int thickness: segment thickness :math:`h` in time samples.
    :param int, None time_index: first time sample :math:`t_b`; random (uniform) when ``None``.
    :param int, None trace_start: first trace :math:`n_b`; random (uniform) when ``None``.
    :param int, None seed: seed for the random positions (used when ``rng`` is ``None``;
        ``None`` means seed 0, so the edit is reproducible by default).
    :param torch.Generator, None rng: generator for the random positions (on any device).
    :param bool return_mask: also return the boolean mask of edited samples (same shape as ``x``).
    :return: (:class:`torch.Tensor`) the edited copy of ``x`` (and the mask if ``return_mask``).

    :raises TypeError: if ``x`` is not a tensor.
    :raises ValueError: if ``x`` has fewer than 2 dimensions, the segment does not fit in the
        section, or both ``seed`` and ``rng`` are given.

    >>> import torch
    >>> x = torch.zeros(2, 1, 16, 32)
    >>> x_edit, mask = add_flat_segment(x, length=8, time_index=5, seed=1, return_mask=True)
    >>> x_edit[0, 0, 5].eq(-0.1).sum().item(), int(mask.sum()), float(x.abs().sum())
    (8, 16, 0.0)
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"x must be a torch.Tensor of shape (..., T, N), got {type(x).__name__}"
        )
    if x.ndim < 2:
        raise ValueError(
            f"x must have shape (..., T, N) with T, N >= 1, got shape {tuple(x.shape)}"
        )
    generator = check_rng(rng, "add_flat_segment")
    if seed is not None and generator is not None:
        raise ValueError("give either seed or rng, not both")
    T, N = x.shape[-2:]
    length = max(1, N // 8) if length is None else length
    for name, value, upper, axis in (
        ("length", length, N, "N"),
        ("thickness", thickness, T, "T"),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= upper
        ):
            raise ValueError(
                f"{name} must be an integer in [1, {axis}={upper}], got {value!r}"
            )
    for name, value, upper in (
        ("time_index", time_index, T - thickness),
        ("trace_start", trace_start, N - length),
    ):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value <= upper
        ):
            raise ValueError(
                f"{name} must be None or an integer in [0, {upper}] so that the segment fits in "
                f"the (T, N) = ({T}, {N}) section, got {value!r}"
            )
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    n_sections = x.shape[0] if x.ndim == 4 else 1
    # drawn on the generator's device (a CUDA generator works too), then used on the CPU
    gdev = generator.device
    t0 = torch.randint(
        0, T - thickness + 1, (n_sections,), generator=generator, device=gdev
    ).cpu()
    n0 = torch.randint(
        0, N - length + 1, (n_sections,), generator=generator, device=gdev
    ).cpu()
    if time_index is not None:
        t0.fill_(time_index)
    if trace_start is not None:
        n0.fill_(trace_start)
    t = torch.arange(T)[None, :, None]
    n = torch.arange(N)[None, None, :]
    inside = (
        (t >= t0[:, None, None])
        & (t < (t0 + thickness)[:, None, None])
        & (n >= n0[:, None, None])
        & (n < (n0 + length)[:, None, None])
    )  # (n_sections, T, N)
    mask = (inside[:, None] if x.ndim == 4 else inside[0]).to(x.device).expand(x.shape)
    x_edit = torch.where(
        mask, torch.as_tensor(amplitude, dtype=x.dtype, device=x.device), x
    )
    return (x_edit, mask.clone()) if return_mask else x_edit


# --- MRI: a small bright lesion (MRI issue) -------------------------------------------------------


def add_lesion(
    x,
    radius: float = 0.06,
    intensity: float = 0.6,
    rng=None,
    center=None,
    aspect: tuple[float, float] = (0.6, 1.0),
    edge: float = 0.25,
    threshold: float = 0.1,
    return_mask: bool = False,
):
    r"""Insert one small bright elliptical lesion with a soft edge into each MRI image.

    The offline stand-in for the paper's knee-tumour test images. With :math:`m = |x|` the magnitude
    (``sqrt(re² + im²)`` for 2 channels), :math:`r` the per-image maximum of :math:`m` and
    :math:`w \in [0, 1]` the lesion profile,

    .. math::

        m' = m + \text{intensity} \cdot r \cdot w, \qquad
        w = \frac{1 - \tanh((\rho - 1) / \text{edge})}{1 - \tanh(-1 / \text{edge})},

    where :math:`\rho` is the elliptical radius (1 on the ellipse). For 2-channel complex images the
    phase is kept: :math:`x' = x + (m' - m)\, x / m` (phase 0 where :math:`m \approx 0`); 1-channel
    images are real and get :math:`x' = x + \text{intensity} \cdot r \cdot w`.

    The ellipse has semi-major axis ``radius * min(H, W)`` pixels, a minor/major ratio drawn uniformly in
    ``aspect`` and a uniform random orientation. Its centre is drawn uniformly among pixels whose
    magnitude exceeds ``threshold * r`` (inside the anatomy) and that are at least one radius from the
    border, unless ``center`` fixes it. Each image of the batch gets its own lesion.

    :param torch.Tensor x: images of shape ``(B, C, H, W)`` or ``(C, H, W)`` with ``C`` in {1, 2}.
    :param float radius: semi-major axis as a fraction of ``min(H, W)``, in (0, 0.5].
    :param float intensity: peak added magnitude, as a fraction of each image's maximum magnitude (>= 0).
    :param torch.Generator, int, None rng: random generator, or an int seed (``None``: torch's global RNG).
    :param tuple[float, float] center: optional fixed centre ``(row, col)`` as fractions of ``(H, W)``.
    :param tuple[float, float] aspect: range of the minor/major axis ratio, ``0 < low <= high <= 1``.
    :param float edge: width of the soft edge as a fraction of the radius (> 0).
    :param float threshold: fraction of the maximum above which a pixel counts as anatomy.
    :param bool return_mask: also return the lesion profile :math:`w` of shape ``(B, 1, H, W)``.
    :return: the edited images (same shape, new tensor), and :math:`w` when ``return_mask``.

    :raises TypeError: when ``x`` is not a floating tensor or ``rng`` is neither a
        ``torch.Generator``, an int nor ``None``.
    :raises ValueError: for a bad shape, ``radius``, ``intensity``, ``center``, ``aspect``,
        ``edge`` or ``threshold``.

    |sep|

    :Examples:

        >>> import torch
        >>> x = torch.zeros(1, 2, 32, 32)
        >>> x[:, 0, 4:28, 4:28] = 0.5
        >>> x_edit, w = add_lesion(x, radius=0.1, intensity=1.0, rng=0, return_mask=True)
        >>> x_edit.shape, round(float(x_edit.norm(dim=1).max()), 2)
        (torch.Size([1, 2, 32, 32]), 1.0)
        >>> bool((x_edit[:, 1] == 0).all())  # real image: the lesion keeps the phase
        True
    """
    # Imported here: the module header is shared with the seismic section.
    import math
    import numbers

    import torch

    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"x must be a floating-point torch.Tensor, got {type(x).__name__}."
        )
    if x.ndim not in (3, 4) or x.shape[-3] not in (1, 2):
        raise ValueError(
            f"x must have shape (B, C, H, W) or (C, H, W) with C in {{1, 2}}, got {tuple(x.shape)}."
        )
    if not isinstance(radius, numbers.Real) or not 0 < radius <= 0.5:
        raise ValueError(
            f"radius must be in (0, 0.5] (fraction of the image side), got {radius!r}."
        )
    if not isinstance(intensity, numbers.Real) or intensity < 0:
        raise ValueError(f"intensity must be a number >= 0, got {intensity!r}.")
    if (
        not isinstance(aspect, (tuple, list))
        or len(aspect) != 2
        or not 0 < aspect[0] <= aspect[1] <= 1
    ):
        raise ValueError(
            f"aspect must be (low, high) with 0 < low <= high <= 1, got {aspect!r}."
        )
    if not isinstance(edge, numbers.Real) or edge <= 0:
        raise ValueError(f"edge must be a number > 0, got {edge!r}.")
    if not isinstance(threshold, numbers.Real) or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}.")
    if center is not None and (
        not isinstance(center, (tuple, list))
        or len(center) != 2
        or not all(isinstance(c, numbers.Real) and 0 <= c <= 1 for c in center)
    ):
        raise ValueError(
            f"center must be None or (row, col) fractions in [0, 1], got {center!r}."
        )
    generator = check_rng(rng, "add_lesion", allow_seed=True)
    if generator is not None and not isinstance(generator, torch.Generator):
        generator = torch.Generator().manual_seed(int(generator))  # an int seed

    batched = x.ndim == 4
    xb = x if batched else x.unsqueeze(0)
    B, C, H, W = xb.shape
    mag = xb.norm(dim=1) if C == 2 else xb[:, 0].abs()  # (B, H, W)
    ref = mag.flatten(1).amax(dim=1)  # (B,)
    semi_major = radius * min(H, W)
    rows = torch.arange(H, dtype=torch.float64)
    cols = torch.arange(W, dtype=torch.float64)
    rr, cc = torch.meshgrid(rows, cols, indexing="ij")
    margin = min(math.ceil(semi_major), (H - 1) // 2, (W - 1) // 2)
    interior = torch.zeros(H, W, dtype=torch.bool)
    interior[margin : H - margin, margin : W - margin] = True
    # Random draws happen on the CPU with the given generator, so results do not depend on x.device.
    device = generator.device if generator is not None else torch.device("cpu")
    profiles = []
    for b in range(B):
        if center is None:
            candidates = (mag[b].detach().cpu() > threshold * float(ref[b])) & interior
            if not candidates.any():
                candidates = interior
            flat = torch.nonzero(candidates.flatten()).flatten()
            pick = flat[
                int(torch.randint(len(flat), (1,), generator=generator, device=device))
            ]
            r0, c0 = float(pick // W), float(pick % W)
        else:
            r0, c0 = center[0] * (H - 1), center[1] * (W - 1)
        u = torch.rand(2, generator=generator, device=device, dtype=torch.float64).cpu()
        theta = float(u[0]) * math.pi
        ratio = aspect[0] + float(u[1]) * (aspect[1] - aspect[0])
        dr, dc = rr - r0, cc - c0
        along = dr * math.cos(theta) + dc * math.sin(theta)
        across = -dr * math.sin(theta) + dc * math.cos(theta)
        rho = torch.sqrt(
            (along / semi_major) ** 2 + (across / (ratio * semi_major)) ** 2
        )
        w = (1 - torch.tanh((rho - 1) / edge)) / (1 - math.tanh(-1 / edge))
        profiles.append(w)
    w = (
        torch.stack(profiles).unsqueeze(1).to(device=xb.device, dtype=xb.dtype)
    )  # (B, 1, H, W)
    added = w * (intensity * ref).view(B, 1, 1, 1)
    if C == 2:
        # Unit phase x / |x|; where |x| ~ 0 the phase is undefined and the lesion goes to the real part.
        m = mag.unsqueeze(1)
        safe = m > 1e-8 * ref.view(B, 1, 1, 1).clamp_min(1e-30)
        unit = torch.where(safe, xb / m.clamp_min(1e-30), torch.zeros_like(xb))
        unit[:, :1] = torch.where(safe, unit[:, :1], torch.ones_like(m))
        out = xb + added * unit
    else:
        out = xb + added
    if not batched:
        out, w = out[0], w[0]
    return (out, w) if return_mask else out
