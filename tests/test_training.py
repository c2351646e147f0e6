import math

import pytest
import torch

from dltnotes.training import LOSSES, MLP, History, evaluate, loss_fn, train

CPU = torch.device("cpu")


def test_mlp_shapes_and_flattening():
    net = MLP(64, 32, 2, 10, seed=0)
    assert net(torch.randn(5, 64)).shape == (5, 10)
    assert net(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    assert len(net.layers) == 3
    with pytest.raises(ValueError, match="64 entries per sample"):
        net(torch.randn(5, 63))


def test_depth_zero_is_linear():
    net = MLP(3, 100, 0, 2, seed=0)
    x = torch.randn(4, 3)
    assert torch.allclose(net(2 * x), 2 * net(x), atol=1e-6)


def test_ntk_layer_formula():
    net = MLP(4, 3, 1, 1, w_std=1.7, b_std=0.3, seed=1)
    layer = net.layers[0]
    h = torch.randn(2, 4)
    want = 1.7 * h @ layer.weight.T / math.sqrt(4) + 0.3 * layer.bias
    assert torch.allclose(layer(h), want, atol=1e-6)


def test_ntk_and_standard_agree_at_initialisation():
    x = torch.randn(6, 5)
    for b_std in (0.0, 0.5):
        ntk = MLP(5, 7, 2, 3, w_std=1.3, b_std=b_std, parameterization="ntk", seed=4)
        std = MLP(5, 7, 2, 3, w_std=1.3, b_std=b_std, parameterization="standard", seed=4)
        assert torch.allclose(ntk(x), std(x), atol=1e-5)


def test_no_bias_when_b_std_is_zero():
    assert all(layer.bias is None for layer in MLP(3, 4, 2, seed=0).layers)
    assert all(layer.bias is not None for layer in MLP(3, 4, 2, b_std=0.1, seed=0).layers)


def test_seed_fixes_the_initialisation():
    a, b = MLP(3, 4, 2, seed=5), MLP(3, 4, 2, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    "kwargs, err",
    [({"width": 0}, ValueError), ({"depth": -1}, ValueError), ({"w_std": 0.0}, ValueError),
     ({"b_std": -1.0}, ValueError), ({"parameterization": "mup"}, ValueError), ({"activation": "swish"}, ValueError),
     ({"width": 2.5}, TypeError)],
)
def test_mlp_bad_arguments(kwargs, err):
    args = {"d_in": 3, "width": 4, "depth": 1} | kwargs
    with pytest.raises(err):
        MLP(**args)


def test_loss_values_at_zero_output():
    f = torch.zeros(4, 1)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert math.isclose(LOSSES["logistic"](f, y).item(), math.log(2), rel_tol=1e-6)
    assert LOSSES["exponential"](f, y).item() == 1.0
    assert LOSSES["hinge"](f, y).item() == 1.0
    assert LOSSES["mse"](f, torch.ones(4, 1)).item() == 0.5
    assert math.isclose(LOSSES["cross_entropy"](torch.zeros(3, 4), torch.tensor([0, 1, 2])).item(), math.log(4),
                        rel_tol=1e-6)


def test_loss_errors():
    with pytest.raises(TypeError, match="int64"):
        LOSSES["cross_entropy"](torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="one output per sample"):
        LOSSES["logistic"](torch.zeros(3, 2), torch.ones(3))
    with pytest.raises(ValueError, match="loss must be one of"):
        loss_fn("l1")


def _regression(n=30, d=5, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=dtype)
    return x, x @ torch.randn(d, 1, generator=gen, dtype=dtype)


def test_gd_on_least_squares_is_monotone_and_reaches_the_solution():
    x, y = _regression(dtype=torch.float64)  # y is exactly linear in x, so min L = 0
    model = MLP(5, 1, 0, 1, seed=0).double()  # depth 0: f(x) = w·x / sqrt(5)
    # L(w) = mean ½ (w·x/√5 − y)², Hessian H = Xᵀ X / (5 n); GD with lr = 1/λ_max(H) never increases L
    eig = torch.linalg.eigvalsh(x.T @ x / (5 * len(x)))
    hist = train(model, x, y, loss="mse", lr=1 / eig.max().item(), steps=300, device=CPU)
    losses = torch.tensor(hist.loss, dtype=torch.float64)
    # non-increasing up to float64 round-off of the initial loss
    assert (losses[1:] <= losses[:-1] + 8 * torch.finfo(torch.float64).eps * losses[0]).all()
    # linear rate (1 − μ/β)^t: after 300 steps the loss is below (1 − μ/β)^300 L0 (+ round-off)
    rate = (1 - eig.min() / eig.max()).item()
    assert hist.loss[-1] <= rate**300 * hist.loss[0] + 1e-20
    assert hist.dist_from_init[0] == 0.0 and len(hist.step) == 301


def test_training_is_deterministic_and_sgd_differs_from_gd():
    x, y = _regression()
    run = lambda bs: train(MLP(5, 16, 1, 1, seed=1), x, y, loss="mse", lr=0.05, steps=20, batch_size=bs,  # noqa
                           device=CPU, seed=3).loss
    assert run(8) == run(8)
    assert run(8) != run(None)


def test_record_every_and_validation():
    x, y = _regression()
    hist = train(MLP(5, 8, 1, 1, seed=0), x, y, loss="mse", lr=0.01, steps=10, record_every=4,
                 x_val=x[:5], y_val=y[:5], device=CPU)
    assert hist.step == [0, 4, 8, 10]
    assert len(hist.val_loss) == 4 and hist.val_accuracy == [None] * 4
    assert isinstance(hist, History) and hist.array("accuracy").shape == (4,)


def test_classification_reaches_full_training_accuracy():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=gen)
    y = (x[:, 0] > 0).long()
    hist = train(MLP(2, 64, 1, 2, seed=0), x, y, optimizer="adam", lr=0.02, steps=150, device=CPU)
    assert hist.accuracy[-1] == 1.0 and hist.loss[-1] < hist.loss[0]


@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov", "rmsprop", "adam", torch.optim.Adagrad])
def test_optimizers(opt):
    x, y = _regression()
    hist = train(MLP(5, 8, 1, 1, seed=0), x, y, loss="mse", optimizer=opt, lr=0.01, steps=5, device=CPU)
    assert hist.loss[-1] < hist.loss[0]


def test_divergence_is_reported():
    x, y = _regression()
    with pytest.raises(RuntimeError, match="diverged"):
        train(MLP(5, 8, 1, 1, seed=0), 1e3 * x, y, loss="mse", lr=10.0, steps=50, device=CPU)


def test_evaluate_restores_mode():
    model = MLP(2, 4, 1, 2, seed=0)
    model.train()
    evaluate(model, torch.randn(3, 2), torch.tensor([0, 1, 0]))
    assert model.training


@pytest.mark.parametrize(
    "kwargs, err, match",
    [({"lr": 0.0}, ValueError, "lr"), ({"steps": 0}, ValueError, "steps"), ({"batch_size": 31}, ValueError, "batch"),
     ({"optimizer": "lbfgs"}, ValueError, "optimizer"), ({"optimizer": 3}, TypeError, "optimizer"),
     ({"x_val": torch.zeros(2, 5)}, ValueError, "both")],
)
def test_train_bad_arguments(kwargs, err, match):
    x, y = _regression()
    with pytest.raises(err, match=match):
        train(MLP(5, 4, 1, 1, seed=0), x, y, loss="mse", device=CPU, **kwargs)


def test_train_rejects_mismatched_data():
    x, y = _regression()
    with pytest.raises(ValueError, match="same n"):
        train(MLP(5, 4, 1, 1), x, y[:-1], loss="mse", device=CPU)
    with pytest.raises(ValueError, match="NaN"):
        train(MLP(5, 4, 1, 1), x * float("nan"), y, loss="mse", device=CPU)
