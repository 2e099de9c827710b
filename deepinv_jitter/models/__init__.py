"""The paper's priors and unrolled-network builders on deepinv's GD / PGD."""
