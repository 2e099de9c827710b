r"""The one study loop: seeds x runs, each trained, evaluated and recorded in its own result file;
resumable, and stopped cleanly by a time budget.

``compare``, ``sweep`` and ``generalization`` are the same loop configured with other runs
(:class:`RunSpec`: a label, a training mode, the task settings it changes, a folder). Every finished
run writes ``run.json`` into its folder (:data:`RUN_FILE`): what the model had, read from its
checkpoint (identity, epochs done, settings), its metrics per condition, the per-sample PSNRs, the
attack curve, timings and provenance; and ``examples.pt`` (:data:`EXAMPLES_FILE`), the images of the
example figure. The tables, intervals, paired differences and figures of a study are a function of
these files alone (:func:`deepinv_jitter.experiments.reports.summarize_runs`), so runs made on
different machines merge (``deepinv-jitter report``).

With a ``time_budget`` (seconds), runs are done in order until the next one would exceed the budget,
estimated as the mean wall time of the runs this call has done; at least one run is done per call
(runs reused from earlier calls take no time), so a series of budgeted calls always progresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoints import CheckpointMismatchError, compare_identity
from .reports import provenance, read_json, write_json
from .tasks.base import MODE_ONLY

__all__ = [
    "RUN_FILE",
    "EXAMPLES_FILE",
    "RunSpec",
    "StudyResult",
    "run_study",
    "load_runs",
    "check_runs_agree",
    "evaluation_settings",
]

#: Name of a run's result file inside its folder.
RUN_FILE = "run.json"
#: Name of the file holding a run's example images (for the examples figure).
EXAMPLES_FILE = "examples.pt"
#: Version of the result file's format.
RUN_FORMAT = 1


@dataclass(frozen=True)
class RunSpec:
    r"""One run of a study.

    :param str label: its row in the tables (a mode, ``"sgd_jitter sigma=0.1"``, ...).
    :param str mode: its training mode.
    :param int seed: its seed.
    :param str folder: its folder, relative to the study's output folder.
    :param dict changes: task settings it changes (``jitter_sigma``, ``n_train``, ``epochs``, ...).
    :param dict info: plain values recorded with the result (``sigma``, ``n_train``, ...).
    """

    label: str
    mode: str
    seed: int
    folder: str
    changes: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


@dataclass
class StudyResult:
    r"""What :func:`run_study` did.

    :param list[dict] runs: the result of every run done or reused, in order (``run.json``'s
        contents).
    :param int total: the number of runs of the study.
    :param bool stopped: whether the time budget stopped the study before its last run.
    :param float seconds: wall time of this call.
    """

    runs: list
    total: int
    stopped: bool = False
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        r"""Whether every run of the study is done."""
        return len(self.runs) == self.total


def evaluation_settings(task) -> dict:
    r"""The settings evaluation reads (a finished run is evaluated again when one changes).

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :return: a dict of plain values.
    """
    c = task.config
    return {
        "attack_eps": c.attack_eps,
        "attack_relative": c.attack_relative,
        "eval_attack_steps": c.eval_attack_steps,
        "attack_step_size": c.attack_step_size,
        "curve_eps": c.curve_eps,
        "gaussian_draws": c.gaussian_draws,
        "eval_batch_size": c.eval_batch_size,
        "n_test": c.n_test,
    }


def _reusable(path: Path, task, spec: RunSpec, log: Callable) -> dict | None:
    """The run file at ``path`` if it records this very run (training and evaluation)."""
    if not path.is_file():
        return None
    try:
        result = read_json(path)
    except ValueError as e:
        log(f"[{spec.label}] {e}; evaluating again")
        return None
    if result.get("format") != RUN_FORMAT or result.get("label") != spec.label:
        return None
    try:
        extend = compare_identity(
            {"identity": result.get("identity")}, task, spec.mode, path
        )
    except CheckpointMismatchError:
        return None
    if extend is not None:
        return None
    if result.get("evaluation") != evaluation_settings(task):
        return None
    return result


def run_study(
    task,
    specs: Sequence[RunSpec],
    out: str | Path,
    *,
    study: str,
    run_one: Callable,
    resume: bool = False,
    log: Callable = print,
    time_budget: float | None = None,
    summary: Callable[[RunSpec, dict], str] | None = None,
    make_task: Callable | None = None,
) -> StudyResult:
    r"""Do the runs of a study in order, each once: train, evaluate, record.

    :param deepinv_jitter.experiments.tasks.Task task: the study's task (each run changes it by
        its seed and ``changes``).
    :param list[RunSpec] specs: the runs.
    :param str out: the study's output folder.
    :param str study: the study's name, recorded in every result file.
    :param Callable run_one: ``run_one(task, spec, folder) -> (model_meta, report, extra)``: trains
        (or reuses) the run's model and evaluates it (see :mod:`deepinv_jitter.experiments.runner`).
    :param bool resume: reuse result files of runs already done.
    :param Callable log: where messages go.
    :param float, None time_budget: seconds this call may take (``None``: no limit).
    :param Callable, None summary: one line of results per run, for ``log``.
    :param Callable, None make_task: ``make_task(spec) -> Task``, the run's task (default:
        ``task.replace(seed=spec.seed, **spec.changes)``).
    :return: a :class:`StudyResult`.
    """
    out = Path(out)
    started = time.time()
    results, durations = [], []
    stopped = False
    for i, spec in enumerate(specs):
        t = (
            make_task(spec)
            if make_task is not None
            else task.replace(seed=spec.seed, **spec.changes)
        )
        path = out / spec.folder / RUN_FILE
        reused = _reusable(path, t, spec, log) if resume else None
        if reused is not None:
            log(
                f"[{spec.label} s{spec.seed}] done before ({path}); reusing its results"
            )
            results.append(reused | {"path": str(path)})
            continue
        if time_budget is not None and durations:
            # at least one run per call, so that a series of budgeted calls always progresses
            estimate = sum(durations) / len(durations)
            elapsed = time.time() - started
            if elapsed + estimate > time_budget:
                stopped = True
                log(
                    f"time budget: {elapsed / 60:.1f} of {time_budget / 60:.1f} min used, the "
                    f"next run takes about {estimate / 60:.1f} min; stopping before run "
                    f"{i + 1} of {len(specs)}"
                )
                break
        t0 = time.time()
        meta, report, extra = run_one(t, spec, out / spec.folder)
        wall = time.time() - t0
        result = _result(t, spec, study, meta, report, extra, wall)
        write_json(result, path)
        if report.examples:
            torch.save(
                {
                    c: {
                        k: v.detach().cpu().contiguous()
                        if isinstance(v, torch.Tensor)
                        else v
                        for k, v in e.items()
                    }
                    for c, e in report.examples.items()
                },
                out / spec.folder / EXAMPLES_FILE,
            )
        durations.append(wall)
        results.append(result | {"path": str(path)})
        if summary is not None:
            log(summary(spec, result))
    return StudyResult(
        runs=results,
        total=len(specs),
        stopped=stopped,
        seconds=time.time() - started,
    )


def _result(task, spec, study, meta, report, extra, wall) -> dict:
    return {
        "format": RUN_FORMAT,
        "study": study,
        "label": spec.label,
        "mode": spec.mode,
        "seed": spec.seed,
        "info": dict(spec.info),
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "identity": meta["identity"],
        "settings": meta.get("settings", task.settings()),
        "epochs_done": meta.get("epochs_done"),
        "extended_from": meta.get("extended_from", []),
        "evaluation": evaluation_settings(task),
        "train_seconds": float(meta.get("train_seconds", float("nan"))),
        "wall_seconds": float(wall),
        "conditions": {c: dict(v) for c, v in report.conditions.items()},
        "per_sample": {c: list(v) for c, v in report.per_sample.items()},
        "curve": {k: list(v) for k, v in report.curve.items()},
        "n_samples": report.n_samples,
        "curve_samples": getattr(report, "curve_samples", report.n_samples),
        "metrics": list(getattr(report, "metrics", ())),
        "measurements": getattr(report, "measurements", "simulated"),
        "extra": extra or {},
        "oracle": task.oracle(),
        "provenance": provenance(task.device),
    }


def load_runs(folders: Sequence[str | Path]) -> list[dict]:
    r"""Every run result file under the given study folders (searched three levels deep).

    :param list[str] folders: output folders of studies.
    :return: the results, each with ``"path"`` (the file it came from) added.
    :raises ValueError: a folder that does not exist or holds no result file, or an unreadable
        result file.
    """
    runs = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{str(folder)!r} is not a folder")
        found = sorted(
            p
            for pattern in (
                RUN_FILE,
                f"*/{RUN_FILE}",
                f"*/*/{RUN_FILE}",
                f"*/*/*/{RUN_FILE}",
            )
            for p in folder.glob(pattern)
        )
        if not found:
            raise ValueError(
                f"{str(folder)!r} holds no run result file ({RUN_FILE}): not an output "
                "folder of compare, or written by an older version"
            )
        for path in found:
            result = read_json(path)
            if not isinstance(result, dict) or result.get("format") != RUN_FORMAT:
                raise ValueError(
                    f"{str(path)!r} is not a run result file of this version"
                )
            runs.append(result | {"path": str(path)})
    return runs


def _without_seed(identity: dict) -> dict:
    settings = {k: v for k, v in identity.get("settings", {}).items() if k != "seed"}
    data = {
        k: v
        for k, v in (identity.get("data") or {}).items()
        if k not in ("read_sha256", "path", "mtime")
    }
    return identity | {"settings": settings, "data": data}


def check_runs_agree(runs: Sequence[dict]) -> None:
    r"""Check that result files can be summarised together: the same study, each (label, seed) at
    most once, and identities that disagree on nothing but the seed (the data read from a file may
    differ with the seed; its file may lie elsewhere), across labels apart from the mode and the
    settings only its mode reads.

    :param list[dict] runs: run results (:func:`load_runs`).
    :raises ValueError: naming the first two runs that disagree and how.
    """
    if not runs:
        raise ValueError("no runs to summarise")
    studies = {r["study"] for r in runs}
    if len(studies) > 1:
        raise ValueError(f"the runs come from different studies: {sorted(studies)}")
    seen = {}
    for r in runs:
        key = (r["label"], r["seed"])
        if key in seen:
            raise ValueError(
                f"run {r['label']} seed {r['seed']} is there twice: {seen[key]} and {r['path']}"
            )
        seen[key] = r.get("path", "?")
    first = {}
    common_ref = None
    for r in runs:
        ident = _without_seed(r["identity"])
        evaluation = r.get("evaluation")
        label = r["label"]
        if label in first:
            ref, ref_eval, where = first[label]
            if ident != ref or evaluation != ref_eval:
                raise ValueError(
                    f"runs of {label} disagree on more than the seed: "
                    f"{_difference(ref, ident, ref_eval, evaluation)} ({where} vs {r['path']})"
                )
        else:
            first[label] = (ident, evaluation, r.get("path", "?"))
        common = {
            "task": ident["task"],
            "preset": ident["preset"],
            "version": ident["version"],
            "data": ident["data"],
            "settings": {
                k: v
                for k, v in ident["settings"].items()
                if k not in MODE_ONLY and k not in r.get("info", {}).get("varies", [])
            },
            "evaluation": evaluation,
        }
        if common_ref is None:
            common_ref = (common, r.get("path", "?"))
        elif common != common_ref[0]:
            raise ValueError(
                "runs disagree on the task, its settings, the data or the evaluation: "
                f"{_difference(common_ref[0], common, None, None)} ({common_ref[1]} vs "
                f"{r['path']})"
            )


def _difference(a: dict, b: dict, ea, eb) -> str:
    parts = []
    for key in sorted(set(a) | set(b)):
        if key == "settings":
            sa, sb = a.get(key, {}), b.get(key, {})
            parts += [
                f"{k} {sa.get(k)!r} != {sb.get(k)!r}"
                for k in sorted(set(sa) | set(sb))
                if sa.get(k) != sb.get(k)
            ]
        elif a.get(key) != b.get(key):
            parts.append(f"{key} {a.get(key)!r} != {b.get(key)!r}")
    if ea != eb:
        parts.append(f"evaluation {ea!r} != {eb!r}")
    return "; ".join(parts) or "?"
