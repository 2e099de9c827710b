"""A user's own task on the command line without editing the package (``--task module:SPEC`` and
the entry-point group), and models that load again from its checkpoints."""

import json
import sys
import textwrap

import pytest
import torch

from deepinv_jitter import load_model, strip_jitter
from deepinv_jitter.cli import main
from deepinv_jitter.experiments import tasks as registry

MODULE = textwrap.dedent(
    '''
    """A deblurring task of a user's own: deepinv's BlurFFT, random piecewise-constant images."""
    import deepinv as dinv
    import torch

    from deepinv_jitter.experiments.tasks.base import TaskData, TaskSpec
    from deepinv_jitter.models import build_unrolled


    def cartoons(n, size, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.full((n, 1, size, size), 0.2)
        for i in range(n):
            r, c = torch.randint(0, size // 2, (2,), generator=g).tolist()
            x[i, 0, r : r + size // 2, c : c + size // 2] = float(torch.rand(1, generator=g))
        return x


    def build_data(config):
        h, w = config.img_size
        physics = dinv.physics.BlurFFT(
            img_size=(1, h, w),
            filter=dinv.physics.functional.gaussian_blur(sigma=(1.0, 1.0)),
            noise_model=dinv.physics.GaussianNoise(config.noise_sigma),
        )
        train = dinv.datasets.TensorDataset(x=cartoons(config.n_train, h, config.seed))
        test = dinv.datasets.TensorDataset(x=cartoons(config.n_test, h, config.seed + 1000))
        return TaskData(physics, train, test, lambda x, rng=None: 1 - x, "cartoons")


    def build_model(config, physics):
        return build_unrolled(
            physics, "seismic", config.algorithm, max_iter=config.max_iter, stepsize=0.5,
            hidden=config.hidden,
        )


    def metrics(config):
        return dinv.metric.PSNR(), dinv.metric.SSIM()


    SIZES = dict(img_size=(16, 16), n_train=8, n_test=4, batch_size=4, epochs=1, max_iter=2,
                 hidden=4, train_attack_steps=1, eval_attack_steps=2, gaussian_draws=2)
    SPEC = TaskSpec(
        name="cartoon_deblur",
        summary="deblurring cartoons with deepinv's BlurFFT",
        defaults=dict(noise_sigma=0.02, attack_eps=0.3, jitter_sigma=0.05),
        presets={"smoke": SIZES, "quick": SIZES, "paper": SIZES},
        build_data=build_data,
        build_model=build_model,
        metrics=metrics,
    )
    '''
)


@pytest.fixture
def own_task(tmp_path, monkeypatch):
    (tmp_path / "my_tasks.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_tasks:SPEC"
    registry.REGISTRY.pop("cartoon_deblur", None)
    registry.SOURCES.pop("cartoon_deblur", None)
    sys.modules.pop("my_tasks", None)


def test_a_task_of_ones_own_runs_from_the_cli_and_its_models_load(own_task, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--task", own_task, "--preset", "smoke", "--quiet"]
    assert main(argv + ["--modes", "mse,sgd_jitter", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "cartoon_deblur" and res["data"] == "cartoons"
    assert set(res["results"]) == {"mse", "sgd_jitter"}
    ckpt = out / "sgd_jitter" / "checkpoint_final.pt"
    # a fresh process knows nothing of the task: the checkpoint says where it comes from
    registry.REGISTRY.pop("cartoon_deblur")
    model = load_model(ckpt)
    assert model.checkpoint_meta["identity"]["task_source"] == own_task
    assert not model.training
    y = torch.rand(2, 1, 16, 16)
    physics = registry.get_task("cartoon_deblur", "smoke").physics
    with torch.no_grad():
        a = model(y, physics)
    # the loaded weights are the trained ones; a plain deepinv model, bit for bit
    sd = torch.load(ckpt, weights_only=True)["state_dict"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in sd.items())
    assert torch.equal(strip_jitter(model).eval()(y, physics), a)
    assert torch.equal(model.train()(y, physics), model(y, physics))  # no noise hooks
    ev = tmp_path / "ev"
    assert (
        main(
            [
                "evaluate",
                "--task",
                own_task,
                "--checkpoint",
                str(ckpt),
                "--out",
                str(ev),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((ev / "evaluation.json").read_text())["task"] == "cartoon_deblur"


def test_entry_points_and_bad_names(own_task, monkeypatch, capsys):
    from importlib import metadata

    class EP:
        name, value = "cartoons", own_task

    real = metadata.entry_points
    monkeypatch.setattr(
        metadata,
        "entry_points",
        lambda **kw: (
            [EP()] if kw.get("group") == "deepinv_jitter.tasks" else real(**kw)
        ),
    )
    assert registry.get_spec("cartoons").name == "cartoon_deblur"
    for bad, words in [
        ("nope", "module:ATTRIBUTE"),
        ("no_such_module:SPEC", "cannot import"),
        ("my_tasks:MISSING", "missing, not a TaskSpec"),
        ("my_tasks:SIZES", "dict, not a TaskSpec"),
    ]:
        with pytest.raises(SystemExit) as e:  # argparse: one line, exit 2
            main(["compare", "--task", bad, "--preset", "smoke"])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
