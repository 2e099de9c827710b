"""Training perturbations: the mode mapping, composition, their random state and identity."""

import inspect
import warnings

import deepinv as dinv
import pytest
import torch

import deepinv_jitter.training.perturbations as perturbations_module
from deepinv_jitter import JitterTrainer
from deepinv_jitter.models import build_unrolled
from deepinv_jitter.optim.jitter import IterateNoise
from deepinv_jitter.training import (
    IterateJitter,
    MeasurementAttack,
    MeasurementNoise,
    TrainingPerturbation,
    mode_name,
    parse_training_mode,
    perturbations_for_mode,
)
from deepinv_jitter.training.perturbations import derive_seed

warnings.filterwarnings("ignore", category=UserWarning)


def _model(seed=0):
    torch.manual_seed(seed)
    return build_unrolled(
        dinv.physics.Denoising(), "seismic", "pgd", max_iter=2, stepsize=0.5, hidden=4
    )


def _data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return dinv.datasets.TensorDataset(
        x=x, y=x + 0.1 * torch.randn(x.shape, generator=g)
    )


def _trainer(model, ds=None, **kw):
    base = dict(
        epochs=1,
        online_measurements=False,
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        device="cpu",
        jitter_seed=0,
    )
    base.update(kw)
    loader = kw.pop("loader", None) or torch.utils.data.DataLoader(
        ds if ds is not None else _data(), batch_size=4, shuffle=False
    )
    base.pop("loader", None)
    return JitterTrainer(
        model,
        dinv.physics.Denoising(dinv.physics.GaussianNoise(0.1)),
        torch.optim.Adam(model.parameters(), 1e-2),
        loader,
        **base,
    )


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


class Recorder:
    """Records (training flag, measurement, iterate noise on) of every model call."""

    def __init__(self, model):
        self.calls = []
        self.model = model
        model.register_forward_pre_hook(self._pre, with_kwargs=True)

    def _pre(self, module, args, kwargs):
        y = args[0] if args else kwargs["y"]
        hooks = [m for m in module.modules() if isinstance(m, IterateNoise)]
        noisy = any(h.noise_on for h in hooks)
        self.calls.append((module.training, y.detach().clone(), noisy))


@pytest.mark.parametrize(
    "text,parts",
    [
        ("mse", ()),
        ("sgd_jitter", ("sgd_jitter",)),
        ("input_jitter+sgd_jitter", ("sgd_jitter", "input_jitter")),
        ("adversarial+input_jitter", ("input_jitter", "adversarial")),
        (" sgd_jitter + adversarial ", ("sgd_jitter", "adversarial")),
    ],
)
def test_mode_names_parse_to_canonical_parts(text, parts):
    assert parse_training_mode(text) == parts
    assert mode_name(parts) == (
        text.strip().replace(" ", "") if len(parts) < 2 else mode_name(parts)
    )
    assert mode_name(reversed(parts)) == mode_name(parts)


@pytest.mark.parametrize(
    "text",
    ["jitter", "mse+sgd_jitter", "sgd_jitter+sgd_jitter", "", "sgd_jitter+", None],
)
def test_bad_mode_names_get_one_error_naming_the_allowed(text):
    with pytest.raises(ValueError, match="training_mode"):
        parse_training_mode(text)


def test_the_mapping_builds_each_perturbation_with_its_fields():
    ps = perturbations_for_mode(
        "adversarial+sgd_jitter+input_jitter",
        jitter_sigma=0.2,
        jitter_scale="relative",
        input_sigma=0.3,
        attack_eps=0.4,
        attack_steps=3,
        attack_step_size=0.5,
        attack_relative=True,
    )
    assert [type(p) for p in ps] == [IterateJitter, MeasurementNoise, MeasurementAttack]
    assert [p.identity() for p in ps] == [
        {"mode": "sgd_jitter", "sigma": 0.2, "scale": "relative"},
        {"mode": "input_jitter", "sigma": 0.3},
        {
            "mode": "adversarial",
            "eps": 0.4,
            "steps": 3,
            "step_size": 0.5,
            "relative": True,
        },
    ]
    assert perturbations_for_mode("mse") == []


def test_combined_mode_runs_both_perturbations_on_training_passes_only():
    model = _model()
    rec = Recorder(model)
    ds = _data()
    tr = _trainer(
        model,
        ds,
        training_mode="input_jitter+sgd_jitter",
        input_sigma=0.2,
        jitter_sigma=0.3,
        compute_eval_losses=True,
    )
    assert tr.training_mode == "sgd_jitter+input_jitter"
    tr.eval_dataloader = torch.utils.data.DataLoader(ds, batch_size=4)
    tr.train()
    train = [(t, y, n) for t, y, n in rec.calls if t]
    other = [(t, y, n) for t, y, n in rec.calls if not t]
    assert len(train) == 2 and other
    for i, (_, y, noisy) in enumerate(train):
        assert noisy  # iterate noise on
        assert abs(float((y - ds.y[4 * i : 4 * i + 4]).std()) - 0.2) < 0.04
    clean = (ds.y[:4], ds.y[4:])
    for _, y, noisy in other:  # evaluation: clean y, no iterate noise
        assert not noisy and any(torch.equal(y, c) for c in clean)


def test_a_combined_mode_with_one_part_off_equals_the_other_part_alone():
    # the first perturbation draws exactly the stream it draws alone
    alone, combined = _model(), _model()
    _trainer(alone, training_mode="sgd_jitter", jitter_sigma=0.3, epochs=2).train()
    _trainer(
        combined,
        training_mode="sgd_jitter+input_jitter",
        jitter_sigma=0.3,
        input_sigma=0.0,
        epochs=2,
    ).train()
    assert torch.equal(_params(alone), _params(combined))


def test_the_generators_of_a_combination_are_independent():
    tr = _trainer(_model(), training_mode="sgd_jitter+input_jitter", jitter_seed=4)
    jit, noise = tr.perturbations
    assert torch.equal(
        jit.rng.get_state(), torch.Generator().manual_seed(4).get_state()
    )
    assert torch.equal(
        noise.rng.get_state(),
        torch.Generator().manual_seed(derive_seed(4, 1)).get_state(),
    )
    assert derive_seed(4, 1) != 4 and derive_seed(4, 1) != derive_seed(4, 2)
    # the model's hook draws from the iterate perturbation's generator
    assert tr.model.fixed_point.iterator.iterate_noise.rng is jit.rng


def test_attack_on_top_of_noise_sees_the_noisy_measurement_and_a_clean_model(
    monkeypatch,
):
    seen = []
    real = perturbations_module.pgd_attack

    def spy(model, physics, x, y, **kw):
        hooks = [m for m in model.modules() if isinstance(m, IterateNoise)]
        seen.append((y.detach().clone(), model.training, hooks[0].sigma))
        return real(model, physics, x, y, **kw)

    monkeypatch.setattr(perturbations_module, "pgd_attack", spy)
    ds = _data()
    model = _model()
    rec = Recorder(model)
    _trainer(
        model,
        ds,
        training_mode="sgd_jitter+input_jitter+adversarial",
        input_sigma=0.2,
        attack_eps=0.3,
        attack_steps=2,
    ).train()
    assert len(seen) == 2
    for i, (y, _, sigma) in enumerate(seen):
        noise = y - ds.y[4 * i : 4 * i + 4]  # the attack starts from y + input noise
        assert abs(float(noise.std()) - 0.2) < 0.04 and sigma == 0.1
    attack_calls = [c for c in rec.calls if not c[0]]
    assert attack_calls and not any(noisy for _, _, noisy in attack_calls)
    train_calls = [c for c in rec.calls if c[0]]
    assert len(train_calls) == 2 and all(noisy for _, _, noisy in train_calls)
    for i, (_, y, _) in enumerate(train_calls):  # trained on y + noise + delta
        assert not torch.allclose(y, seen[i][0])
        delta = (y - seen[i][0]).flatten(1).norm(dim=1)
        assert torch.all(delta <= 0.3 * (1 + 1e-4))


def test_combined_mode_resumes_exactly(tmp_path):
    def run(epochs, save=None, ckpt=None, seed=0):
        torch.manual_seed(seed)
        model = _model(seed=0 if ckpt is None else 9)
        loader = torch.utils.data.DataLoader(
            dinv.datasets.TensorDataset(
                x=torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(5))
            ),
            batch_size=4,
            shuffle=True,
            generator=torch.Generator().manual_seed(3),
        )
        tr = _trainer(
            model,
            loader=loader,
            epochs=epochs,
            online_measurements=True,
            save_path=save,
            ckpt_pretrained=ckpt,
            training_mode="sgd_jitter+input_jitter",
            jitter_sigma=0.3,
            input_sigma=0.2,
            jitter_seed=1,
        )
        torch.manual_seed(seed)
        tr.train()
        return model

    torch.manual_seed(0)
    straight = run(4)
    torch.manual_seed(0)
    run(2, save=tmp_path / "a")
    ckpt = next((tmp_path / "a").glob("*/ckp_1.pth.tar"))
    state = torch.load(ckpt, weights_only=True)
    assert len(state["perturbation_rng"]) == 2 and state["training_mode"] == (
        "sgd_jitter+input_jitter"
    )
    resumed = run(4, ckpt=str(ckpt), seed=99)
    assert torch.equal(_params(resumed), _params(straight))


def test_objects_instead_of_a_mode_name_and_a_perturbation_of_ones_own():
    class Gain(TrainingPerturbation):
        """Trains on 1.1 y: a perturbation the package does not know."""

        name = "gain"

        def perturb(self, x, y, physics, model):
            return 1.1 * y

    model = _model()
    rec = Recorder(model)
    ds = _data()
    tr = _trainer(model, ds, perturbations=[Gain(), IterateJitter(0.2)])
    assert tr.training_mode == "sgd_jitter+gain"
    tr.train()
    train = [(y, noisy) for t, y, noisy in rec.calls if t]
    assert all(noisy for _, noisy in train)
    assert torch.allclose(train[0][0], 1.1 * ds.y[:4])
    # an empty list is plain MSE, the same weights as training_mode="mse"
    a, b = _model(), _model()
    _trainer(a, perturbations=[]).train()
    _trainer(b, training_mode="mse").train()
    assert torch.equal(_params(a), _params(b))


@pytest.mark.parametrize(
    "kw,error",
    [
        (dict(perturbations=[object()]), TypeError),
        (dict(perturbations=IterateJitter()), TypeError),
        (dict(perturbations=[IterateJitter(), IterateJitter(0.2)]), ValueError),
        (dict(perturbations=[IterateJitter()], training_mode="mse"), ValueError),
        (dict(training_mode="sgd_jitter+mse"), ValueError),
    ],
)
def test_bad_perturbations_are_refused_at_construction(kw, error):
    with pytest.raises(error, match="perturbations|training_mode"):
        _trainer(_model(), **kw)


def test_perturbations_check_their_own_settings():
    with pytest.raises(ValueError, match="jitter_sigma"):
        IterateJitter(-1.0)
    with pytest.raises(ValueError, match="jitter_scale"):
        IterateJitter(0.1, "batch")
    with pytest.raises(ValueError, match="input_sigma"):
        MeasurementNoise(float("nan"))
    with pytest.raises(ValueError, match="attack_eps"):
        MeasurementAttack(0.0)
    with pytest.raises(ValueError, match="attack_steps"):
        MeasurementAttack(1.0, steps=0)
    with pytest.raises(ValueError, match="attack_relative"):
        MeasurementAttack(1.0, relative="yes")
    with pytest.raises(ValueError, match="adversarial"):
        MeasurementAttack(1.0).perturb(None, torch.ones(1, 1), None, None)


def test_the_trainer_has_no_string_switch_on_the_mode():
    import deepinv_jitter.training.data_parallel as dp
    import deepinv_jitter.training.trainer as tm

    for module in (tm, dp):
        source = inspect.getsource(module)
        for pattern in ("training_mode ==", "training_mode !=", "training_mode in"):
            assert pattern not in source, (module.__name__, pattern)


def test_self_supervised_losses_see_one_jittered_network_per_step():
    # deepinv's SURE takes a finite difference of two model calls: both calls of a step must
    # see the same iterate noise (else the difference is noise / tau), the next step fresh noise
    model = _model()
    draws = []
    hook = None

    loss = dinv.loss.SureGaussianLoss(sigma=0.1, tau=1e-2)
    tr = _trainer(
        model,
        training_mode="sgd_jitter",
        jitter_sigma=0.3,
        losses=[loss],
        online_measurements=True,
        epochs=1,
    )
    hook = model.fixed_point.iterator.iterate_noise
    real = hook._draw

    def spy(u):
        d = real(u)
        draws.append(d.detach().clone())
        return d

    hook._draw = spy
    tr.train()
    # 2 batches x 2 calls x 2 iterations; within a step the calls replay the same draws
    per_call = [draws[i : i + 2] for i in range(0, len(draws), 2)]
    assert len(per_call) == 4
    for step in (0, 2):
        a, b = per_call[step], per_call[step + 1]
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(per_call[0][0], per_call[2][0])  # a new step draws afresh
    assert all(torch.isfinite(torch.tensor(tr.loss_history["SureGaussianLoss"])))


def test_shared_noise_changes_nothing_with_one_call_per_step():
    from deepinv_jitter.optim.jitter import shared_noise

    model = _model().train()
    jit = IterateJitter(0.3, rng=torch.Generator().manual_seed(0))
    jit.prepare(model)
    y = torch.rand(2, 1, 8, 8)
    physics = dinv.physics.Denoising()
    plain = model(y, physics)
    jit.rng.manual_seed(0)
    with shared_noise(model):
        shared = model(y, physics)
        again = model(y, physics)
    assert torch.equal(plain, shared) and torch.equal(shared, again)
    # outside: fresh draws, the block's draws are not replayed
    after = model(y, physics)
    assert not torch.equal(after, shared) and not torch.equal(after, model(y, physics))


def test_shared_noise_draws_afresh_where_the_shapes_differ():
    # a call on a differently shaped measurement (another batch size) inside the block gets its
    # own draws; the calls of the first shape still share theirs
    from deepinv_jitter.optim.jitter import shared_noise

    model = _model().train()
    IterateJitter(0.3, rng=torch.Generator().manual_seed(0)).prepare(model)
    physics = dinv.physics.Denoising()
    y2, y3 = torch.rand(2, 1, 8, 8), torch.rand(3, 1, 8, 8)
    with shared_noise(model):
        a = model(y2, physics)
        b = model(y3, physics)
        c = model(y3, physics)
    with torch.no_grad():
        clean = model.eval()(y3, physics)
    assert b.shape == y3.shape and not torch.equal(b, clean)  # noisy, right shape
    assert torch.equal(b, c) and a.shape == y2.shape


def test_measurement_noise_draws_from_its_own_generator():
    # the seeded generator, not torch's global one: the draw does not depend on the global seed
    y = torch.zeros(2, 1, 8, 8)
    outs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        p = MeasurementNoise(0.1, rng=torch.Generator().manual_seed(3))
        outs.append(p.perturb(None, y, None, None))
    expected = 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], expected)
