"""The README's two commands are the CI's, and its Python snippet runs as written."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_snippet_runs_as_written(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "no Python snippet in the README"
    for code in blocks:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        psnr = [float(v) for v in proc.stdout.strip().splitlines()[-1].split()]
        assert len(psnr) == 2 and all(v == v for v in psnr)  # two finite PSNRs


def test_the_readme_commands_are_the_ci_ones():
    ci = (ROOT / ".ci" / "run").read_text()
    quick = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1).splitlines()
    install, tests = quick[0], quick[1]
    assert (
        install.startswith('pip install -e ".[dev]"')
        and "deepinv-jitter compare" in install
    )
    assert 'pip install -e ".[dev]"' in ci and tests.strip() in ci
