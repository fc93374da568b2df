"""CrystalClassifier: the estimator contract, labels, determinism, uncertainty."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline

from skcrystal import CrystalClassifier, DiffractionFingerprint
from skcrystal.classifier import ConvNet
from skcrystal.datasets import make_prototype_dataset

TINY = {
    "max_epochs": 2,
    "batch_size": 8,
    "train_split": None,
    "module__filters": (4, 4, 4, 4, 4, 4),
    "module__hidden": 16,
}


@pytest.fixture(scope="module")
def images():
    structures, labels = make_prototype_dataset(6, classes=["fcc", "bcc", "hex/rh"], random_state=0)
    fp = DiffractionFingerprint(
        n_pixels=24, pixel_size=1.07e-3, beam_stop_radius=2, target_n_atoms=64, compile=False
    )
    return fp.transform(structures), labels, structures


def test_labels_round_trip_any_hashable_type(images):
    X, labels, _ = images
    for y in (labels, np.array([{"fcc": 7, "bcc": 3, "hex/rh": 11}[label] for label in labels])):
        net = CrystalClassifier(**TINY, random_state=0, unknown_label=None).fit(X, y)
        assert sorted(net.classes_.tolist()) == sorted(set(y.tolist()))
        predictions = net.predict(X)
        assert predictions.dtype == y.dtype
        assert set(predictions.tolist()) <= set(y.tolist())
        proba = net.predict_proba(X)
        assert proba.shape == (len(X), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(predictions, net.classes_[proba.argmax(axis=1)])


def test_reject_option_keeps_the_label_type_or_falls_back_to_object(images):
    X, labels, _ = images
    numbers = np.array([{"fcc": 7, "bcc": 3, "hex/rh": 11}[label] for label in labels])
    far = np.random.default_rng(0).random((3, *X.shape[1:]), dtype=np.float32)
    for y, unknown, kind in (
        (labels, "unknown", "U"),
        (numbers, -1, "i"),
        (numbers, "unknown", "O"),
    ):
        net = CrystalClassifier(**TINY, random_state=0, unknown_label=unknown).fit(X, y)
        predictions = net.predict(np.concatenate([X, far]))
        assert predictions.dtype.kind == kind
        assert set(predictions.tolist()) <= set(y.tolist()) | {unknown}
        # predict_proba stays closed-set: its columns are the classes, unknown is none of them.
        assert unknown not in net.classes_.tolist()
        assert net.predict_proba(far).shape == (3, 3)


def test_training_is_reproducible_on_cpu(images):
    X, y, _ = images
    a = CrystalClassifier(**TINY, random_state=3).fit(X, y).predict_proba(X)
    b = CrystalClassifier(**TINY, random_state=3).fit(X, y).predict_proba(X)
    c = CrystalClassifier(**TINY, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_bfloat16_training_is_reproducible_and_predicts_in_float32(images):
    X, y, _ = images
    a = CrystalClassifier(**TINY, precision="bfloat16", random_state=3).fit(X, y)
    b = CrystalClassifier(**TINY, precision="bfloat16", random_state=3).fit(X, y)
    full = CrystalClassifier(**TINY, random_state=3).fit(X, y)
    proba = a.predict_proba(X)
    assert proba.dtype == np.float32
    np.testing.assert_array_equal(proba, b.predict_proba(X))
    # Same seed, other arithmetic: close to the float32 run, not identical to it.
    assert not np.array_equal(proba, full.predict_proba(X))
    assert np.abs(proba - full.predict_proba(X)).max() < 0.2


def test_bad_precision_is_refused(images):
    X, y, _ = images
    with pytest.raises(ValueError, match="precision must be one of .*'float16'"):
        CrystalClassifier(**TINY, precision="float16").fit(X, y)


def test_it_learns_the_classes(images):
    X, y, _ = images
    net = CrystalClassifier(max_epochs=15, batch_size=6, train_split=None, random_state=0).fit(X, y)
    assert net.score(X, y) >= 0.9


def test_module_follows_the_data(images):
    X, y, _ = images
    net = CrystalClassifier(**TINY, random_state=0).fit(X, y)
    assert net.image_shape_ == (3, 24, 24)
    assert net.module_.classifier[-1].out_features == 3
    assert any(isinstance(m, torch.nn.ReLU) for m in net.module_.modules())


def test_clone_set_params_and_pickle(images):
    X, y, _ = images
    net = CrystalClassifier(**TINY, random_state=0)
    twin = clone(net)
    assert twin.get_params()["module__hidden"] == 16
    twin.set_params(lr=5e-4, module__dropout=0.1)
    assert twin.lr == 5e-4
    net.fit(X, y)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(restored.classes_, net.classes_)


def test_pipeline_grid_search_over_n_pixels_and_cross_val_score(images):
    _, y, structures = images
    pipe = Pipeline(
        [
            (
                "fingerprint",
                DiffractionFingerprint(
                    pixel_size=1.07e-3, beam_stop_radius=2, target_n_atoms=64, compile=False
                ),
            ),
            ("classifier", CrystalClassifier(**TINY, random_state=0)),
        ]
    )
    search = GridSearchCV(pipe, {"fingerprint__n_pixels": [16, 24]}, cv=2).fit(structures, y)
    # Both image sizes trained and scored (a failed fit scores nan).
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert (
        search.best_estimator_.named_steps["classifier"].image_shape_[1]
        == search.best_params_["fingerprint__n_pixels"]
    )
    scores = cross_val_score(pipe.set_params(fingerprint__n_pixels=16), structures, y, cv=2)
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))


def test_uncertainty_shapes_modes_and_seed(images):
    X, y, _ = images
    net = CrystalClassifier(**TINY, random_state=0).fit(X, y)
    net.module_.eval()
    result = net.predict_uncertainty(X, n_passes=8, random_state=0)
    assert result.proba.shape == (len(X), 3) and result.std.shape == (len(X), 3)
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(result.mutual_information >= -1e-9)
    assert np.all(result.mutual_information <= result.predictive_entropy + 1e-9)
    assert np.any(result.std > 0)  # dropout was active
    assert not any(m.training for m in net.module_.modules())  # and the modes are restored
    with pytest.warns(FutureWarning, match="n_passes"):
        again = net.predict_uncertainty(X, n_samples=8, random_state=0)
    np.testing.assert_array_equal(again.proba, result.proba)
    single = net.predict_uncertainty(X, n_passes=1, random_state=0)
    np.testing.assert_allclose(single.mutual_information, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    "X, y, error, words",
    [
        ("structures", None, TypeError, "DiffractionFingerprint before it"),
        (np.zeros((4, 3, 8)), ["a", "b"] * 2, ValueError, "shape"),
        (np.zeros((4, 3, 8, 8)), ["a", "b", "a"], ValueError, "labels"),
        (np.zeros((4, 3, 8, 8)), ["a"] * 4, ValueError, "one class only"),
        (np.full((4, 3, 8, 8), np.nan), ["a", "b"] * 2, ValueError, "NaN"),
        (np.zeros((0, 3, 8, 8)), [], ValueError, r"0 sample\(s\)"),
        ("sparse", ["a", "b"] * 2, TypeError, "sparse input is not supported"),
        (np.zeros((3, 8)), ["a", "b", "a"], ValueError, "Reshape your data"),
        (
            np.zeros((4, 3, 8, 8), dtype=complex),
            ["a", "b"] * 2,
            ValueError,
            "Complex data not supported",
        ),
    ],
)
def test_bad_inputs_get_clear_errors(images, X, y, error, words):
    if isinstance(X, str) and X == "structures":
        X, y = images[2], images[1]
    elif isinstance(X, str):
        from scipy.sparse import csr_matrix

        X = csr_matrix(np.zeros((4, 12)))
    with pytest.raises(error, match=words):
        CrystalClassifier(**TINY).fit(X, y)


def test_nested_lists_of_numbers_are_images(images):
    X, y, _ = images
    net = CrystalClassifier(**TINY, random_state=0).fit(X[:12], y[:12])
    np.testing.assert_array_equal(net.predict_proba(X[:5].tolist()), net.predict_proba(X[:5]))


def test_convnet_matches_the_papers_table_2():
    net = ConvNet(n_classes=7, n_pixels=64)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 16, 16, 8, 8]
    assert all(c.kernel_size == (7, 7) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.features) == 2
    assert net.classifier[1].out_features == 128
    assert isinstance(net.classifier[3], torch.nn.Dropout) and net.classifier[3].p == 0.25
    assert isinstance(net.classifier[4], torch.nn.BatchNorm1d)


def test_a_last_batch_of_one_trains(images):
    X, y, _ = images
    net = CrystalClassifier(**{**TINY, "batch_size": 17}, random_state=0).fit(X, y)  # 18 = 17 + 1
    assert np.all(np.isfinite(net.predict_proba(X)))


def test_default_validation_split_scores_the_encoded_labels():
    structures, labels = make_prototype_dataset(10, classes=["fcc", "bcc"], random_state=1)
    fp = DiffractionFingerprint(
        n_pixels=16, pixel_size=1.6e-3, beam_stop_radius=1.5, target_n_atoms=32, compile=False
    )
    X = fp.transform(structures)
    net = CrystalClassifier(
        max_epochs=2, batch_size=6, random_state=0, module__filters=(4,) * 6, module__hidden=8
    )
    net.fit(X, labels)  # 10 % of 20 crystals, stratified: one of each class for validation
    accuracies = net.history[:, "valid_acc"]
    assert len(accuracies) == 2 and all(a in (0.0, 0.5, 1.0) for a in accuracies)
    assert net.predict(X).dtype.kind == labels.dtype.kind


def test_unfitted_predict_and_partial_fit_are_clear(images):
    from sklearn.exceptions import NotFittedError

    X, y, _ = images
    for unknown in ("unknown", None):
        with pytest.raises(NotFittedError):
            CrystalClassifier(**TINY, unknown_label=unknown).predict(X)
    net = CrystalClassifier(**TINY)
    assert not hasattr(net, "partial_fit")
    with pytest.raises(AttributeError, match="warm_start=True"):
        net.partial_fit(X, y)


def test_warm_start_trains_on_with_the_classes_it_has(images):
    # Training on a subset of the classes kept the network's outputs but refitted the labels
    # on the subset: outputs were then named after the wrong classes.
    X, y, _ = images
    net = CrystalClassifier(**TINY, random_state=0, unknown_label=None).fit(X, y)
    classes = net.classes_.tolist()
    subset = np.isin(y, ["fcc", "bcc"])
    net.set_params(warm_start=True).fit(X[subset], y[subset])
    assert net.classes_.tolist() == classes
    assert net.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match=r"not in the trained classes .*\['sc'\]"):
        net.fit(X[:2], ["fcc", "sc"])
    with pytest.raises(ValueError, match="was built for"):
        net.fit(X[:, :, :12, :12], y)


@pytest.mark.parametrize(
    ("y", "words"),
    [
        (None, "requires y to be passed, but the target y is None"),
        ("continuous", "Unknown label type: 'continuous'"),
        ("two-columns", "Unknown label type: 'multiclass-multioutput'"),
    ],
)
def test_labels_that_are_not_classes_are_refused(images, y, words):
    X, _, _ = images
    if y == "continuous":
        y = np.linspace(0.1, 2.3, len(X))
    elif y == "two-columns":
        y = np.stack([np.arange(len(X)) % 3, np.arange(len(X)) % 2], axis=1)
    with pytest.raises(ValueError, match=words):
        CrystalClassifier(**TINY).fit(X, y)


def test_classes_parameter_adds_columns_and_refuses_strangers(images):
    X, y, _ = images
    net = CrystalClassifier(**TINY, random_state=0, classes=["bcc", "diam", "fcc", "hex/rh"]).fit(
        X, y
    )
    assert net.classes_.tolist() == ["bcc", "diam", "fcc", "hex/rh"]
    assert net.predict_proba(X).shape == (len(X), 4)
    with pytest.raises(ValueError, match=r"not in classes: \['hex/rh'\]"):
        CrystalClassifier(**TINY, classes=["bcc", "fcc"]).fit(X, y)


def test_fit_leaves_the_global_torch_generator_alone(images):
    X, y, _ = images
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    CrystalClassifier(**TINY, random_state=0).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())
