"""Training loop: what it logs, the non-i.i.d. batches' bound exceeding the true MI, config errors."""

import json
import math

import pytest

torch = pytest.importorskip("torch")

from infomix.mi.representation.datasets import GaussianViews  # noqa: E402
from infomix.mi.representation.train import InfoMaxConfig, train_infomax  # noqa: E402
from infomix.mi.representation.views import paired  # noqa: E402


def gaussian_run(iid, seed):
    source = GaussianViews(iid=iid)
    config = InfoMaxConfig(
        encoder="identity", critic="concat", critic_params={"hidden": [32]}, objective="nce",
        batch_size=64, lr=5e-3, steps=400, eval_every=400, eval_batches=50, seed=seed,
    )  # fmt: skip
    history, _ = train_infomax(config, source, source, true_mi=source.mutual_information)
    return history


def test_bound_exceeds_the_true_mi_only_with_non_iid_batches():
    """Tschannen et al. §3.3: a batch sharing one z is not a sample of the product of marginals."""
    true_mi = GaussianViews().mutual_information
    dependent = gaussian_run(iid=False, seed=0)
    independent = gaussian_run(iid=True, seed=0)
    assert dependent.test_bound[-1] > 5 * true_mi
    assert independent.test_bound[-1] < true_mi + 0.02  # 50 batches of 64: MC error about 0.01
    assert dependent.step == [0, 400] and dependent.true_mi == true_mi


def test_history_records_bound_probe_and_flow_reconstruction():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (300,), generator=gen)
    first = torch.randn(300, 6, generator=gen) + labels[:, None].float()
    second = first + 0.3 * torch.randn(300, 6, generator=gen)
    train, test = paired(first[:200], second[:200], labels[:200]), paired(first[200:], second[200:], labels[200:])
    config = InfoMaxConfig(
        encoder="flow", encoder_params={"couplings": 2, "hidden": [16]}, critic="bilinear",
        batch_size=32, lr=1e-3, steps=20, eval_every=10, probe_params={"solver": "lbfgs", "tol": 1e-4, "max_iter": 300},
    )  # fmt: skip
    history, trained = train_infomax(config, train, test)
    assert history.step == [0, 10, 20]
    assert math.isnan(history.train_bound[0]) and all(math.isfinite(v) for v in history.train_bound[1:])
    assert all(v <= math.log(32) for v in history.test_bound)
    assert all(0.0 <= a <= 1.0 for a in history.probe_accuracy) and history.pixel_accuracy > 0.5
    assert all(r < 1e-5 for r in history.reconstruction_error)
    assert len(history.rows()) == 3 and json.dumps(history.to_dict())
    assert trained.g1 is not trained.g2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"objective": "infomax"}, "objective must be one of nce, nwj, triplet"),
        ({"objective": "triplet", "target": 2.0}, "target applies"),
        ({"batch_size": 1}, "batch_size must be >= 2"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"report_bound": "dv"}, "report_bound must be one of"),
    ],
)
def test_bad_configs_are_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        InfoMaxConfig(**settings)


def test_mismatched_train_and_test_views_are_a_clear_error():
    a = paired(torch.randn(40, 3), torch.randn(40, 3))
    b = paired(torch.randn(40, 4), torch.randn(40, 3))
    with pytest.raises(ValueError, match="train and test views differ in shape"):
        train_infomax(InfoMaxConfig(steps=1), a, b)
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_infomax(InfoMaxConfig(steps=1, batch_size=64), a, a)
