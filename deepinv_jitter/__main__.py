"""``python -m deepinv_jitter``: the same entry point as the ``deepinv-jitter`` console script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
