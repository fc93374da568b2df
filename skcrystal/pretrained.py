"""The shipped model: :func:`load_pretrained`, and the recipe that trained it.

The weights are a plain ``state_dict`` of tensors, saved with ``torch.save`` and loaded with
``torch.load(weights_only=True)``, which runs no code; the rest of the model (classes,
fingerprint and network parameters) is a JSON file beside them.
"""

from __future__ import annotations

import json
import time
from numbers import Integral
from pathlib import Path

from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._saved_model import METADATA, NOVELTY, WEIGHTS

#: Defects of the augmented recipe, each applied to an equal share of half the crystals:
#: vacancy fractions, Gaussian displacements (Angstrom per component) and correlated thermal
#: motion (:class:`~skcrystal.defects.ThermalDisplacements`, Lindemann ratios).
AUGMENTATION = (
    ("vacancies", 0.1),
    ("vacancies", 0.3),
    ("vacancies", 0.5),
    ("displacements", 0.02),
    ("displacements", 0.05),
    ("displacements", 0.08),
    ("thermal", 0.05),
    ("thermal", 0.1),
)


#: Lindemann ratios of the Debye phonons in the novelty sample: hotter than the training's
#: 0.1, as real crystals are up to their melting point (``benchmarks/md.py``).
NOVELTY_THERMAL = (0.1, 0.125, 0.15)
#: Share of the novelty sample's held-out crystals that the shipped threshold accepts.
NOVELTY_ACCEPTANCE = 0.995
#: Folds of the cross-fitting that sets the shipped threshold on the whole novelty sample.
NOVELTY_FOLDS = 10


@validate_params(
    {
        "n_per_class": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
        "n_jobs": [None, Integral],
    },
    prefer_skip_nested_validation=True,
)
def novelty_sample(n_per_class, random_state=0, n_jobs=None):
    """Crystals of the seven classes that the novelty threshold of the recipe is fitted on.

    ``make_prototype_dataset(n_per_class, random_state=...)`` made defective as in training
    (:data:`AUGMENTATION`), and the same pristine crystals again with Debye phonons at the
    Lindemann ratios of :data:`NOVELTY_THERMAL`, a third each.

    Parameters
    ----------
    n_per_class : int
        Pristine crystals per class drawn by ``make_prototype_dataset``; the sample holds
        twice as many per class.
    random_state : int, default=0
        Seeds the crystals, the defects and the phonons.
    n_jobs : int, default=None
        Processes for the crystals (joblib semantics).

    Returns
    -------
    structures : list of pymatgen.core.Structure
        ``14 * n_per_class`` crystals.
    labels : ndarray of str
        The class of each crystal.

    Examples
    --------
    >>> structures, labels = novelty_sample(1, random_state=3)
    >>> len(structures), sorted(set(labels)) == sorted(labels[:7])
    (14, True)
    """
    import numpy as np

    from .datasets import make_prototype_dataset
    from .defects import ThermalDisplacements

    structures, labels = make_prototype_dataset(
        n_per_class, random_state=random_state, n_jobs=n_jobs
    )
    rng = np.random.RandomState(random_state)
    hot, hot_labels = [], []
    for ratio, share in zip(
        NOVELTY_THERMAL, np.array_split(rng.permutation(len(structures)), len(NOVELTY_THERMAL))
    ):
        generator = ThermalDisplacements(lindemann=ratio, random_state=rng.randint(2**31 - 1))
        hot += generator.transform([structures[i] for i in share]) if len(share) else []
        hot_labels += labels[share].tolist()
    return _augment(structures, random_state) + hot, np.concatenate([labels, hot_labels])


@validate_params(
    {
        "n_per_class": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "augment": ["boolean"],
        "precision": [StrOptions({"float32", "bfloat16"})],
        # The novelty sample is seeded with random_state + 1.
        "random_state": [Interval(Integral, 0, 2**32 - 2, closed="both")],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def train_pretrained(
    n_per_class=1500,
    *,
    max_epochs=5,
    augment=False,
    precision="float32",
    random_state=0,
    n_jobs=None,
    verbose=1,
):
    """The recipe of the shipped model: the paper's network on generated crystals.

    Parameters
    ----------
    n_per_class : int, default=1500
        Training crystals per class (the paper had about 10,500 in all).
    max_epochs : int, default=5
        Training epochs.
    augment : bool, default=False
        ``False`` trains on pristine crystals only, as the paper did. ``True`` makes half of
        them defective, an equal share for each entry of :data:`AUGMENTATION` (vacancy
        fractions; Gaussian displacements in Angstrom; Debye phonons at Lindemann ratios), on
        supercells of at least 256 atoms.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of the training steps (see :class:`~skcrystal.CrystalClassifier`).
    random_state : int, default=0
        Seeds the data and the training; the novelty sample is drawn with
        ``random_state + 1``.
    n_jobs : int, default=None
        Processes for the data and the fingerprints (joblib semantics).
    verbose : int, default=1
        Verbosity of the training (skorch's: 1 prints a line per epoch, 0 nothing).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``DiffractionFingerprint`` + ``CrystalClassifier``; its novelty score and
        threshold (``acceptance`` :data:`NOVELTY_ACCEPTANCE`) are fitted on
        :func:`novelty_sample` of two fifths of ``n_per_class`` (at least 5, so that each
        class has a member in each of the :data:`NOVELTY_FOLDS` folds of the
        cross-fitting). A fifth (300 per class for the shipped model) left the class model of
        hex/rh, a class of two lattice families, short of rhombohedral crystals near 90
        degrees: two of the 140 test crystals of ``benchmarks/unknown.py`` were rejected.
    info : dict
        What was done, with timings in seconds.

    Examples
    --------
    Training takes minutes even at its smallest (the test suite trains with
    ``n_per_class=10`` and ``max_epochs=1``):

    >>> pipeline, info = train_pretrained(10, max_epochs=1, verbose=0)  # doctest: +SKIP

    The shipped model's ``info``, stored with it by :func:`save_pretrained`:

    >>> from skcrystal._saved_model import read
    >>> info = read().metadata["info"]
    >>> info["n_per_class"], info["max_epochs"], info["novelty"]["n_per_class"]
    (1500, 5, 600)
    """
    from .classifier import CrystalClassifier
    from .datasets import make_prototype_dataset
    from .fingerprint import DiffractionFingerprint

    start = time.perf_counter()
    structures, labels = make_prototype_dataset(
        n_per_class, random_state=random_state, n_jobs=n_jobs
    )
    if augment:
        structures = _augment(structures, random_state)
    generated = time.perf_counter()
    fingerprint = DiffractionFingerprint(n_jobs=n_jobs)
    images = fingerprint.transform(structures)
    fingerprinted = time.perf_counter()
    classifier = CrystalClassifier(
        max_epochs=max_epochs, precision=precision, random_state=random_state, verbose=verbose
    )
    classifier.fit(images, labels)
    trained = time.perf_counter()
    fit_recipe_novelty(
        classifier, fingerprint, max(5, 2 * n_per_class // 5), random_state + 1, n_jobs
    )
    novelty = time.perf_counter()
    info = {
        "n_per_class": n_per_class,
        "n_structures": len(structures),
        "max_epochs": max_epochs,
        "augmentation": [list(entry) for entry in AUGMENTATION] if augment else [],
        "precision": precision,
        "random_state": random_state,
        "seconds_data": round(generated - start, 1),
        "seconds_fingerprints": round(fingerprinted - generated, 1),
        "seconds_training": round(trained - fingerprinted, 1),
        "novelty": {
            "n_per_class": max(5, 2 * n_per_class // 5),
            "random_state": random_state + 1,
            "thermal": list(NOVELTY_THERMAL),
            "acceptance": NOVELTY_ACCEPTANCE,
            "folds": NOVELTY_FOLDS,
            "seconds": round(novelty - trained, 1),
        },
        "valid_acc_last_epoch": _last(classifier, "valid_acc"),
    }
    return _pipeline(fingerprint, classifier), info


def fit_recipe_novelty(classifier, fingerprint, n_per_class, random_state, n_jobs=None):
    """Fit the classifier's novelty score and threshold on :func:`novelty_sample` (the recipe's step).

    The network has not seen these crystals: the threshold is cross-fitted over all of them
    (``fit_novelty(..., cv=NOVELTY_FOLDS)``).

    Parameters
    ----------
    classifier : CrystalClassifier
        Fitted; its ``acceptance`` is set to :data:`NOVELTY_ACCEPTANCE`, and its novelty
        score and threshold are fitted in place.
    fingerprint : DiffractionFingerprint
        Makes the images of the novelty sample (the one the classifier was trained with).
    n_per_class : int
        Passed to :func:`novelty_sample`; at least 5, so that each class has a member in each
        of the :data:`NOVELTY_FOLDS` folds.
    random_state : int
        Seeds :func:`novelty_sample`.
    n_jobs : int, default=None
        Processes for the crystals (joblib semantics).

    Returns
    -------
    classifier : CrystalClassifier
        The classifier, as ``fit_novelty`` returns it.

    Examples
    --------
    The shipped model's threshold was fitted this way:

    >>> model = load_pretrained()
    >>> model.named_steps["classifier"].acceptance == NOVELTY_ACCEPTANCE
    True

    Fitting it again fingerprints ``14 * n_per_class`` crystals, which takes a while:

    >>> classifier = fit_recipe_novelty(  # doctest: +SKIP
    ...     model.named_steps["classifier"], model.named_steps["fingerprint"], 5, random_state=1
    ... )
    """
    structures, labels = novelty_sample(n_per_class, random_state, n_jobs)
    classifier.set_params(acceptance=NOVELTY_ACCEPTANCE)
    return classifier.fit_novelty(fingerprint.transform(structures), labels, cv=NOVELTY_FOLDS)


def _augment(structures, random_state):
    """Half the structures, in equal random shares, made defective as :data:`AUGMENTATION` says."""
    import numpy as np

    from .defects import Displacements, ThermalDisplacements, Vacancies

    generators = {
        "vacancies": lambda amount, seed: Vacancies(amount, random_state=seed),
        "displacements": lambda amount, seed: Displacements(amount, random_state=seed),
        "thermal": lambda amount, seed: ThermalDisplacements(lindemann=amount, random_state=seed),
    }
    rng = np.random.RandomState(random_state)
    defective = rng.permutation(len(structures))[len(structures) // 2 :]
    structures = list(structures)
    for (kind, amount), share in zip(AUGMENTATION, np.array_split(defective, len(AUGMENTATION))):
        generator = generators[kind](amount, rng.randint(2**31 - 1))
        if len(share) == 0:  # fewer defective crystals than kinds of defect
            continue
        for index, changed in zip(share, generator.transform([structures[i] for i in share])):
            structures[index] = changed
    return structures


def _last(classifier, key):
    try:
        return float(classifier.history[-1, key])
    except (KeyError, IndexError):
        return None


def _pipeline(fingerprint, classifier):
    from sklearn.pipeline import Pipeline

    return Pipeline([("fingerprint", fingerprint), ("classifier", classifier)])


def save_pretrained(pipeline, directory, info=None):
    """Write a fitted fingerprint + classifier pipeline as weights, arrays and JSON metadata.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"fingerprint"`` and ``"classifier"``, fitted.
    directory : str or path-like
        Created if missing; ``weights.pt``, ``model.json`` and, if the classifier has a
        fitted novelty score, ``novelty.npz`` are written into it.
        Class labels must be strings, integers, floats or booleans (they are stored as
        JSON and come back with their type).
    info : dict, default=None
        Recorded in the metadata (e.g. how the model was trained).

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> save_pretrained(load_pretrained(), folder, {"note": "a copy of the shipped model"})
    >>> sorted(os.listdir(folder))
    ['model.json', 'novelty.npz', 'weights.pt']
    >>> load_pretrained(folder).named_steps["classifier"].classes_.tolist()
    ['bcc', 'bct139', 'bct141', 'diam', 'fcc', 'hex/rh', 'sc']
    """
    import numpy as np
    import torch

    fingerprint = pipeline.named_steps["fingerprint"]
    classifier = pipeline.named_steps["classifier"]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(
        {k: v.cpu() for k, v in classifier.module_.state_dict().items()}, directory / WEIGHTS
    )
    module_params = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in classifier.get_params_for("module").items()
    }
    metadata = {
        "classes": _json_labels(classifier.classes_),
        "image_shape": [int(n) for n in classifier.image_shape_],
        "fingerprint": {
            k: v for k, v in fingerprint.get_params().items() if k not in ("n_jobs", "device")
        },
        "module": module_params,
        "info": info or {},
    }
    novelty = getattr(classifier, "novelty_", None)
    if novelty is not None:
        np.savez(directory / NOVELTY, **novelty.state)
        metadata["novelty"] = {
            "score": novelty.name,
            "offset": classifier.offset_,
            "acceptance": classifier.acceptance,
            "unknown_label": classifier.unknown_label,
        }
    (directory / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")


def _json_labels(classes):
    labels = classes.tolist()
    bad = [label for label in labels if not isinstance(label, (str, int, float, bool))]
    if bad:
        raise TypeError(
            f"save_pretrained stores the class labels as JSON (str, int, float or bool); "
            f"label {bad[0]!r} of type {type(bad[0]).__name__} is none of these."
        )
    return labels


def load_pretrained(directory=None, *, device="cpu"):
    """The shipped model as a fitted ``Pipeline`` (fingerprint + classifier).

    Loads weights that ship inside the package: no download, and no code runs while loading
    (``torch.load(weights_only=True)``).

    Parameters
    ----------
    directory : str or path-like, default=None
        A folder written by :func:`save_pretrained`; default: the shipped model.
    device : str, default="cpu"
        Torch device of the fingerprint and the network, e.g. ``"cuda"``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"fingerprint"`` (:class:`~skcrystal.DiffractionFingerprint`) and
        ``"classifier"`` (:class:`~skcrystal.CrystalClassifier`), ready to predict.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> model = load_pretrained()
    >>> model.named_steps["classifier"].classes_.tolist()
    ['bcc', 'bct139', 'bct141', 'diam', 'fcc', 'hex/rh', 'sc']
    >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> model.predict([iron]).tolist()
    ['bcc']
    """
    from sklearn.preprocessing import LabelEncoder

    from . import _saved_model
    from .classifier import CrystalClassifier
    from .fingerprint import DiffractionFingerprint

    saved = _saved_model.read(directory, device=device)
    metadata = saved.metadata
    module_params = {
        f"module__{key}": value for key, value in _saved_model.module_kwargs(metadata).items()
    }
    novelty = metadata.get("novelty")
    reject = (
        {
            "novelty": novelty["score"],
            "acceptance": novelty["acceptance"],
            "unknown_label": novelty["unknown_label"],
        }
        if novelty
        else {"unknown_label": None}
    )
    classifier = CrystalClassifier(device=device, **reject, **module_params)
    classifier.label_encoder_ = LabelEncoder().fit(saved.classes)
    classifier.image_shape_ = tuple(metadata["image_shape"])
    classifier.initialize_for_prediction()
    classifier.module_.load_state_dict(saved.module.state_dict())
    classifier.module_.eval()
    if novelty:
        classifier.novelty_ = saved.novelty
        classifier.offset_ = saved.offset
    fingerprint = DiffractionFingerprint(device=device, **metadata["fingerprint"])
    return _pipeline(fingerprint, classifier)
