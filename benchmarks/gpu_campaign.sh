#!/usr/bin/env bash
# The paper-scale campaign on a lent GPU (see benchmarks/gpu_campaign.py and the results page).
#
# Here, once per session (the device machine reaches no network; its Python is 3.12 with torch,
# numpy, scipy, matplotlib, h5py, tqdm, but not deepinv):
#     bash benchmarks/gpu_campaign.sh prepare
# then, through the device tool, with `.whl` carried and a timeout that leaves room to rerun:
#     bash benchmarks/gpu_campaign.sh device --budget 9
# and back here, for each task the campaign ran:
#     python benchmarks/gpu_campaign.py unpack <files_at>/seismic_runs.json --into results/paper/seismic
#     deepinv-jitter report results/paper/seismic --out results/paper/seismic
# then commit results/paper (run files, tables, figures; no checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl \
        deepinv==0.5.0 natsort nibabel nilearn
    ls -l .whl
    ;;
device)
    shift
    if compgen -G ".whl/*.whl" >/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
    fi
    export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    python3 benchmarks/gpu_campaign.py run --out "${OUT:-campaign_out}" "$@"
    ;;
*)
    echo "usage: bash benchmarks/gpu_campaign.sh prepare | device [gpu_campaign.py run options]" >&2
    exit 2
    ;;
esac
