"""JitterTrainer: modes, noise only in training passes, eval-loss guard, resume, deepinv features."""

import copy
import warnings

import deepinv as dinv
import pytest
import torch

from deepinv_jitter import JitterTrainer, jitterize
from deepinv_jitter.models import build_unrolled

warnings.filterwarnings("ignore", category=UserWarning)


def _model(seed=0, algo="gd"):
    torch.manual_seed(seed)
    return build_unrolled(
        dinv.physics.Denoising(),
        "seismic",
        algo,
        max_iter=2,
        stepsize=0.5,
        hidden=4,
        depth=2,
    )


def _physics():
    return dinv.physics.Denoising(
        dinv.physics.GaussianNoise(0.1, rng=torch.Generator())
    )


def _offline(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return dinv.datasets.TensorDataset(
        x=x, y=x + 0.1 * torch.randn(x.shape, generator=g)
    )


def _loader(ds, bs=4):
    return torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=False)


def _trainer(model, mode="sgd_jitter", ds=None, online=False, **kw):
    ds = ds if ds is not None else _offline()
    base = dict(
        epochs=1,
        online_measurements=online,
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        device="cpu",
        training_mode=mode,
        jitter_seed=0,
    )
    base.update(kw)
    return JitterTrainer(
        model,
        kw.pop("physics", None) or _physics(),
        torch.optim.Adam(model.parameters(), 1e-2),
        _loader(ds),
        **{k: v for k, v in base.items() if k != "physics"},
    )


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


class Spy(dinv.models.Reconstructor):
    """A one-parameter reconstructor that records what it sees."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.5))
        self.seen = []

    def forward(self, y, physics, **kw):
        self.seen.append((self.training, torch.is_grad_enabled(), y.detach().clone()))
        return self.a * y


@pytest.mark.parametrize("mode", ["mse", "sgd_jitter", "input_jitter", "adversarial"])
def test_each_mode_trains(mode):
    model = _model()
    before = _params(model)
    tr = _trainer(
        model, mode, epochs=2, attack_steps=2, attack_eps=0.5, jitter_sigma=0.3
    )
    tr.train()
    assert not torch.equal(before, _params(model))
    hist = tr.loss_history["SupLoss"]
    assert len(hist) == 2 and all(torch.isfinite(torch.tensor(hist)))


def test_sgd_jitter_changes_training_and_mse_ignores_jitterized_noise():
    ref, jit, mse = _model(), _model(), jitterize(_model(), sigma=1.0)
    _trainer(ref, "mse").train()
    _trainer(jit, "sgd_jitter", jitter_sigma=0.5).train()
    _trainer(
        mse, "mse"
    ).train()  # a jitterized model with sigma=1 trains noise-free in mse mode
    assert torch.equal(_params(ref), _params(mse))
    assert not torch.allclose(_params(ref), _params(jit))
    hook = jit.fixed_point.iterator.iterate_noise
    assert hook.sigma == 0.5 and hook.scale == "iterate"
    assert mse.fixed_point.iterator.iterate_noise.sigma == 1.0


@pytest.mark.parametrize("mode", ["sgd_jitter", "input_jitter", "adversarial"])
def test_test_twice_identical_and_eval_losses_clean(mode):
    model = _model()
    tr = _trainer(
        model, mode, jitter_sigma=1.0, input_sigma=0.5, compute_eval_losses=True
    )
    tr.attack_steps = 2
    tr.train()
    ds = _offline(seed=3)
    out1 = tr.test(_loader(ds), compare_no_learning=False)
    loss1 = tr.logs_total_loss_eval.avg
    out2 = tr.test(_loader(ds), compare_no_learning=False)
    assert out1["PSNR"] == out2["PSNR"] and loss1 == tr.logs_total_loss_eval.avg
    model.eval()  # oracle: the clean eval-mode reconstruction
    x, y = ds.x, ds.y
    with torch.no_grad():
        xhat = model(y, _physics())
    psnr = dinv.metric.PSNR()(xhat, x).mean().item()
    assert abs(out1["PSNR"] - psnr) < 1e-4
    assert abs(loss1 - torch.nn.functional.mse_loss(xhat, x).item()) < 1e-6


def test_input_noise_only_on_training_batches():
    spy, ds = Spy(), _offline()
    tr = _trainer(spy, "input_jitter", ds=ds, input_sigma=0.2, compute_eval_losses=True)
    tr.eval_dataloader = _loader(ds)
    tr.train()
    train_calls = [y for t, g, y in spy.seen if t and g]
    other = [y for t, g, y in spy.seen if not (t and g)]
    assert len(train_calls) == 2 and len(other) >= 4
    for i, y in enumerate(train_calls):
        noise = y - ds.y[4 * i : 4 * i + 4]
        assert abs(noise.std().item() - 0.2) < 0.03
    clean = torch.cat([ds.y[:4], ds.y[4:]])
    for y in other:
        assert any(torch.equal(y, c) for c in (clean[:4], clean[4:]))


def test_adversarial_batches_within_budget():
    spy, ds = Spy(), _offline()
    _trainer(
        spy, "adversarial", ds=ds, attack_eps=0.3, attack_steps=3, attack_step_size=0.5
    ).train()
    train_calls = [y for t, g, y in spy.seen if t and g]
    assert len(train_calls) == 2
    for i, y in enumerate(train_calls):
        n = (y - ds.y[4 * i : 4 * i + 4]).flatten(1).norm(dim=1)
        assert torch.all(n <= 0.3 * (1 + 1e-4)) and torch.all(n > 0.29)
    attack_calls = [t for t, g, y in spy.seen if not t and g]
    assert len(attack_calls) == 2 * 3  # attack runs the model in eval mode


def test_sgd_jitter_needs_unrolled_model_other_modes_do_not():
    with pytest.raises(TypeError, match="sgd_jitter"):
        _trainer(Spy(), "sgd_jitter")
    _trainer(Spy(), "input_jitter").train()


@pytest.mark.parametrize(
    "field,value",
    [
        ("training_mode", "jitter"),
        ("jitter_sigma", -0.1),
        ("jitter_scale", "global"),
        ("input_sigma", -1.0),
        ("attack_eps", 0.0),
        ("attack_steps", 0),
        ("attack_step_size", -0.1),
        ("jitter_seed", 1.5),
        ("jitter_sigma", float("inf")),
        ("input_sigma", float("inf")),
        ("attack_eps", float("inf")),
        ("attack_eps", float("nan")),
        ("attack_step_size", float("inf")),
        ("attack_relative", "yes"),
    ],
)
def test_bad_fields(field, value):
    with pytest.raises(ValueError, match=field):
        _trainer(_model(), **{field: value})


def test_resume_from_checkpoint_equals_straight_run(tmp_path):
    straight = _model()
    _trainer(straight, epochs=3, jitter_sigma=0.3).train()
    first = _model()
    tr = _trainer(first, epochs=2, jitter_sigma=0.3, save_path=tmp_path / "a")
    tr.train()
    ckpt = next((tmp_path / "a").glob("*/ckp_1.pth.tar"))
    assert torch.load(ckpt, weights_only=False)["training_mode"] == "sgd_jitter"
    resumed = _model(seed=7)  # different init: everything must come from the checkpoint
    tr2 = _trainer(resumed, epochs=3, jitter_sigma=0.3, ckpt_pretrained=str(ckpt))
    tr2.train()
    assert tr2.epoch_start == 2
    assert torch.equal(_params(resumed), _params(straight))


def test_online_physics_generator_several_loaders_mixed_precision():
    model = _model(algo="pgd")
    before = _params(model)
    ds1 = dinv.datasets.TensorDataset(x=torch.rand(4, 1, 8, 8))
    ds2 = dinv.datasets.TensorDataset(x=torch.rand(4, 1, 8, 8))
    gen = dinv.physics.generator.SigmaGenerator(
        0.01, 0.2, rng=torch.Generator().manual_seed(0)
    )
    tr = JitterTrainer(
        model,
        [_physics(), _physics()],
        torch.optim.Adam(model.parameters(), 1e-2),
        [_loader(ds1, 2), _loader(ds2, 2)],
        epochs=1,
        online_measurements=True,
        physics_generator=[gen, copy.deepcopy(gen)],
        mixed_precision="bf16",
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        device="cpu",
        jitter_sigma=0.2,
        jitter_scale="iterate",
    )
    tr.train()
    assert torch.all(torch.isfinite(_params(model))) and not torch.equal(
        before, _params(model)
    )


@pytest.mark.gpu
def test_cuda_sgd_jitter():
    model = _model().cuda()
    tr = _trainer(model, device="cuda", physics=_physics().cuda(), jitter_sigma=0.2)
    tr.train()
    assert next(model.parameters()).is_cuda


def test_defaults_are_pinned():
    tr = _trainer(_model())
    assert tr.jitter_scale == "iterate" and tr.attack_step_size is None
    tr = _trainer(Spy(), "adversarial", attack_steps=4)
    # Madry's, as pgd_attack
    assert tr.perturbations[0].effective_step_size == pytest.approx(2.5 / 4)
    assert _trainer(_model(), training_mode=None).training_mode == "sgd_jitter"


def test_adversarial_training_attacks_the_measurement_and_keeps_the_target(monkeypatch):
    import deepinv_jitter.training.perturbations as trainer_module

    calls = []
    real = trainer_module.pgd_attack

    def spy_attack(model, physics, x, y, **kw):
        calls.append((x.detach().clone(), y.detach().clone(), kw))
        return real(model, physics, x, y, **kw)

    monkeypatch.setattr(trainer_module, "pgd_attack", spy_attack)
    ds = _offline()
    _trainer(Spy(), "adversarial", ds=ds, attack_eps=0.3, attack_steps=3).train()
    assert len(calls) == 2
    for i, (x, y, kw) in enumerate(calls):
        assert torch.equal(x, ds.x[4 * i : 4 * i + 4])  # the target
        assert torch.equal(
            y, ds.y[4 * i : 4 * i + 4]
        )  # the measurement that is perturbed
        assert (
            kw["eps"] == 0.3
            and kw["steps"] == 3
            and kw["step_size"] == pytest.approx(2.5 / 3)
        )


@pytest.mark.parametrize("mode", ["input_jitter", "adversarial"])
def test_a_jitterized_model_gets_no_iterate_noise_in_other_modes(mode):
    # with the input perturbation switched off (input_sigma 0) / identical attacks, a jitterized
    # model (sigma 1) must train exactly as the same model without jitter iterators
    kw = dict(input_sigma=0.0, attack_eps=0.2, attack_steps=1)
    plain, jittered = _model(), jitterize(_model(), sigma=1.0)
    _trainer(plain, mode, **kw).train()
    _trainer(jittered, mode, **kw).train()
    assert torch.equal(_params(plain), _params(jittered))


def test_clean_train_metrics_change_what_is_logged():
    logged = {}
    for clean in (True, False):
        tr = _trainer(
            _model(),
            "sgd_jitter",
            jitter_sigma=2.0,
            compute_train_metrics=True,
            metrics=dinv.metric.PSNR(),
            clean_train_metrics=clean,
        )
        tr.train()
        logged[clean] = tr.logs_metrics_train[0].avg
    assert logged[True] > logged[False] + 1.0  # the noisy pass scores far lower


def test_non_finite_training_loss_stops_with_epoch_and_batch():
    tr = _trainer(_model(), "mse", epochs=2)
    tr.optimizer = torch.optim.SGD(tr.model.parameters(), lr=1e30)
    with pytest.raises(FloatingPointError, match=r"epoch \d+, batch \d+"):
        tr.train()


def test_resume_restores_every_random_state(tmp_path):
    """Online measurement noise, shuffled order and input noise: a resumed run is bit-identical."""

    def run(epochs, save=None, ckpt=None, seed=0):
        torch.manual_seed(
            seed
        )  # the global state a resumed process starts with must not matter
        model = _model(seed=0 if ckpt is None else 9)
        ds = dinv.datasets.TensorDataset(
            x=torch.rand(8, 1, 8, 8, generator=torch.Generator())
        )
        loader = torch.utils.data.DataLoader(
            ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(3)
        )
        tr = JitterTrainer(
            model,
            dinv.physics.Denoising(dinv.physics.GaussianNoise(0.1)),
            torch.optim.Adam(model.parameters(), 1e-2),
            loader,
            epochs=epochs,
            online_measurements=True,
            scheduler=None,
            save_path=save,
            ckpt_pretrained=ckpt,
            verbose=False,
            show_progress_bar=False,
            training_mode="input_jitter",
            input_sigma=0.3,
            jitter_seed=1,
        )
        torch.manual_seed(seed)
        tr.train()
        return model

    straight = run(4)
    run(2, save=tmp_path / "a")
    ckpt = next((tmp_path / "a").glob("*/ckp_1.pth.tar"))
    state = torch.load(ckpt, weights_only=True)  # only plain values: safe to load
    assert {"torch_rng", "perturbation_rng", "loader_rng", "optimizer"} <= set(state)
    resumed = run(4, ckpt=str(ckpt), seed=99)
    assert torch.equal(_params(resumed), _params(straight))
