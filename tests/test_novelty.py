"""The novelty score and the reject option of CrystalClassifier."""

import copy

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from skcrystal import CrystalClassifier, DiffractionFingerprint
from skcrystal._novelty import SCORES
from skcrystal.datasets import make_prototype_dataset

TINY = {
    "max_epochs": 3,
    "batch_size": 8,
    "module__filters": (4, 4, 4, 4, 4, 4),
    "module__hidden": 16,
}
FINGERPRINT = {
    "n_pixels": 24,
    "pixel_size": 1.07e-3,
    "beam_stop_radius": 2,
    "target_n_atoms": 64,
    "compile": False,
}


@pytest.fixture(scope="module")
def data():
    structures, labels = make_prototype_dataset(
        10, classes=["fcc", "bcc", "hex/rh"], random_state=0
    )
    return DiffractionFingerprint(**FINGERPRINT).transform(structures), labels, structures


@pytest.fixture(scope="module")
def trained(data):
    X, y, _ = data
    return CrystalClassifier(**TINY, train_split=None, random_state=0).fit(X, y)


def _noise(shape, seed=0):
    """Images of no crystal: speckle with the value range of a fingerprint."""
    return np.random.default_rng(seed).random(
        (len(shape) and shape[0], *shape[1:]), dtype=np.float32
    )


@pytest.mark.parametrize("acceptance", [0.9, 0.99])
def test_offset_accepts_the_asked_share_of_the_held_out_images(data, trained, acceptance):
    X, y, _ = data
    net = trained.set_params(acceptance=acceptance).fit_novelty(X, y)
    scores = net.score_samples(X)  # train_split=None: the training images are the held-out ones
    accepted = np.mean(scores >= net.offset_)
    assert acceptance <= accepted <= acceptance + 1 / len(X) + 1e-9
    np.testing.assert_array_equal(net.predict(X) == "unknown", scores < net.offset_)


def test_the_validation_split_sets_the_threshold(data):
    X, y, _ = data
    net = CrystalClassifier(**TINY, random_state=0, acceptance=1.0).fit(X, y)
    # 10 % stratified: 3 held-out images; acceptance 1 puts the threshold at their lowest score.
    _, held_out = net.get_split_datasets(X, net.label_encoder_.transform(y))
    held = np.asarray(held_out.indices)
    assert len(held) == 3
    assert net.offset_ == pytest.approx(net.score_samples(X[held]).min())


def test_cross_fitting_sets_the_threshold_on_out_of_fold_scores(data, trained):
    X, y, _ = data
    index = np.arange(len(X))
    folds = [(index[index % 3 != k], index[index % 3 == k]) for k in range(3)]
    net = copy.deepcopy(trained).set_params(acceptance=1.0).fit_novelty(X, y, cv=folds)
    out_of_fold = []
    for fold, held in folds:
        # train_split=None: cv=None fits the score on every image it is given.
        part = copy.deepcopy(trained).fit_novelty(X[fold], y[fold])
        out_of_fold.append(part.score_samples(X[held]))
    # Features of other batches differ in the last float32 bits.
    assert net.offset_ == pytest.approx(np.concatenate(out_of_fold).min(), rel=1e-4)
    everything = copy.deepcopy(trained).fit_novelty(X, y)
    np.testing.assert_allclose(net.score_samples(X), everything.score_samples(X), rtol=1e-6)


def test_cross_fitting_with_an_int_is_seeded(data, trained):
    X, y, _ = data
    net = copy.deepcopy(trained).set_params(random_state=0, acceptance=0.9)
    assert net.fit_novelty(X, y, cv=3).offset_ == net.fit_novelty(X, y, cv=3).offset_


@pytest.mark.parametrize("novelty", sorted(SCORES))
def test_each_score_ranks_speckle_below_crystals(data, trained, novelty):
    X, y, _ = data
    net = trained.set_params(novelty=novelty, acceptance=0.99).fit_novelty(X, y)
    inside, outside = net.score_samples(X), net.score_samples(_noise(X.shape))
    assert inside.shape == (len(X),) and np.all(np.isfinite(inside))
    assert np.median(outside) < np.median(inside)


def test_distance_scores_reject_speckle(data, trained):
    X, y, _ = data
    for novelty in ("mahalanobis", "knn"):
        net = trained.set_params(novelty=novelty, acceptance=0.99).fit_novelty(X, y)
        assert np.all(net.predict(_noise(X.shape, seed=1)) == "unknown")


def test_changing_the_score_leaves_the_network_alone(data, trained):
    X, y, _ = data
    before = trained.predict_proba(X)
    trained.set_params(novelty="energy").fit_novelty(X, y)
    np.testing.assert_array_equal(trained.predict_proba(X), before)
    assert trained.novelty_.name == "energy"
    trained.set_params(novelty="mahalanobis").fit_novelty(X, y)


def test_no_unknown_label_is_the_closed_set_classifier(data, trained):
    X, _, _ = data
    noise = _noise(X.shape)
    net = trained.set_params(unknown_label=None)
    try:
        np.testing.assert_array_equal(
            net.predict(noise), net.classes_[net.predict_proba(noise).argmax(axis=1)]
        )
    finally:
        net.set_params(unknown_label="unknown")


def test_pipeline_score_samples_takes_structures(data, trained):
    _, _, structures = data
    pipeline = Pipeline(
        [("fingerprint", DiffractionFingerprint(**FINGERPRINT)), ("classifier", trained)]
    )
    scores = pipeline.score_samples(structures[:4])
    np.testing.assert_allclose(
        scores,
        trained.score_samples(DiffractionFingerprint(**FINGERPRINT).transform(structures[:4])),
    )


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"novelty": "softmax"}, "novelty must be one of"),
        ({"acceptance": 0.0}, "acceptance must be in (0, 1]"),
    ],
)
def test_bad_parameters_are_refused(data, params, words):
    X, y, _ = data
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace("]", r"\]")):
        CrystalClassifier(**TINY, **params).fit(X, y)


def test_an_unfitted_score_is_refused(data):
    X, _, _ = data
    with pytest.raises(NotFittedError):
        CrystalClassifier(**TINY).score_samples(X)


def test_mahalanobis_is_stable_with_a_dead_feature():
    from skcrystal import _novelty

    rng = np.random.default_rng(0)
    # An untrained network: every unit at about 0.5, varying by 1e-6 at most.
    features = 0.5 + 1e-6 * rng.normal(size=(200, 6))
    features[:, 3] = 0.5
    y = np.arange(200) % 2
    score = _novelty.Mahalanobis().fit(features, y)
    assert np.linalg.eigvalsh(score.state["precision"]).max() < 1e11
    # float32 rounding of the features moves the score by far less than its spread.
    query = 0.5 + 1e-4 * rng.normal(size=(20, 6))
    rounded = query + 1e-8 * rng.normal(size=query.shape)
    spread = np.ptp(score.score(query, None))
    assert np.abs(score.score(rounded, None) - score.score(query, None)).max() < 1e-4 * spread
    # A well-spread feature set is unchanged by the floor.
    from sklearn.covariance import LedoitWolf

    spread_out = rng.normal(size=(200, 6))
    healthy = _novelty.Mahalanobis().fit(spread_out, y)
    means = np.stack([spread_out[y == c].mean(axis=0) for c in (0, 1)])
    expected = LedoitWolf().fit(spread_out - means[y]).precision_
    np.testing.assert_allclose(healthy.state["precision"], expected, rtol=1e-8, atol=1e-10)
