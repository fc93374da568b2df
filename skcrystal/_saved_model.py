"""A model saved by :func:`~skcrystal.pretrained.save_pretrained`, read to predict.

:func:`~skcrystal.load_pretrained` builds its scikit-learn pipeline from what :func:`read`
returns. The command line predicts with :class:`SavedModel` itself: the fingerprint, the
network and the novelty score run as plain functions of torch and numpy, so that classifying
one file does not import scikit-learn or skorch (about 1.5 s of a cold start). Both give
the same answers: the same images, the network run on batches of the same size, the same
novelty score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

from . import _network, _novelty
from ._fingerprinter import Fingerprinter

#: Folder of the shipped model inside the package.
SHIPPED = "data/pretrained"
WEIGHTS = "weights.pt"
METADATA = "model.json"
#: Arrays of the fitted novelty score (``numpy.savez``; loaded without pickle).
NOVELTY = "novelty.npz"
#: Fingerprint parameters that are not saved: they are the user's choice where it runs.
RUNTIME_PARAMS = ("device", "n_jobs")


@dataclass
class SavedModel:
    """The parts of a saved model, and prediction with them.

    Attributes
    ----------
    metadata : dict
        The contents of ``model.json``.
    classes : ndarray
        The labels, sorted: the columns of the probabilities.
    fingerprinter : skcrystal._fingerprinter.Fingerprinter
        The fingerprint with its saved parameters.
    module : skcrystal._network.ConvNet
        The network, its weights loaded, in eval mode.
    novelty : object or None
        The fitted novelty score (:mod:`skcrystal._novelty`), if the model has one.
    offset : float or None
        The novelty threshold: below it a structure is unknown.
    unknown_label : object or None
        What the model says for an unknown structure.
    """

    metadata: dict
    classes: np.ndarray
    fingerprinter: Fingerprinter
    module: object
    novelty: object
    offset: float | None
    unknown_label: object

    @property
    def device(self):
        """Where the fingerprint and the network run (the fingerprinter's ``device``)."""
        return self.fingerprinter.device

    def scored(self, images):
        """Penultimate features and logits of the network for fingerprint images.

        Parameters
        ----------
        images : ndarray of shape (n_samples, channels, n_pixels, n_pixels), float32
            As :meth:`Fingerprinter.render` returns them.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features)
        logits : ndarray of shape (n_samples, n_classes)
        """
        batches = _network.batches(images, _network.BATCH_SIZE)
        return _network.outputs(self.module, batches, self.device)

    def uncertainty(self, images, n_passes=_network.N_PASSES, random_state=0):
        """Monte-Carlo-dropout uncertainty, as ``CrystalClassifier.predict_uncertainty``.

        Parameters
        ----------
        images : ndarray of shape (n_samples, channels, n_pixels, n_pixels), float32
            Fingerprint images.
        n_passes : int, default=30
            Stochastic forward passes.
        random_state : int or None, default=0
            Seeds the dropout masks.

        Returns
        -------
        dict
            As :func:`skcrystal._network.uncertainty` returns it.
        """
        passes = _network.dropout_passes(
            self.module,
            lambda: _network.batches(images, _network.BATCH_SIZE),
            n_passes,
            random_state,
            self.device,
        )
        return _network.uncertainty(passes)


def folder(directory=None):
    """The folder of a saved model: ``directory``, or the shipped model's."""
    return Path(directory) if directory is not None else resources.files("skcrystal") / SHIPPED


def module_kwargs(metadata):
    """The network's saved parameters (``model.json``'s ``module``), JSON lists as tuples.

    Examples
    --------
    >>> module_kwargs({"module": {"filters": [8, 8, 4, 4, 2, 2], "hidden": 16}})
    {'filters': (8, 8, 4, 4, 2, 2), 'hidden': 16}
    """
    return {k: tuple(v) if isinstance(v, list) else v for k, v in metadata["module"].items()}


def read(directory=None, *, device="cpu", n_jobs=None):
    """Read a model saved by :func:`~skcrystal.pretrained.save_pretrained`.

    No code runs while reading: the weights are loaded with ``torch.load(weights_only=True)``
    and the novelty arrays without pickle.

    Parameters
    ----------
    directory : str or path-like, default=None
        The folder; default: the shipped model.
    device : str, default="cpu"
        Torch device of the fingerprint and the network.
    n_jobs : int, default=None
        Processes that read and canonicalise the structures (joblib semantics).

    Returns
    -------
    SavedModel

    Raises
    ------
    ValueError
        If ``model.json`` does not give the fingerprint's parameters.

    Examples
    --------
    >>> model = read()
    >>> model.classes.tolist()
    ['bcc', 'bct139', 'bct141', 'diam', 'fcc', 'hex/rh', 'sc']
    >>> model.fingerprinter.n_pixels, model.module.training
    (64, False)
    """
    import torch

    where = folder(directory)
    metadata = json.loads((where / METADATA).read_text())
    params = {k: v for k, v in metadata["fingerprint"].items() if k != "on_error"}
    expected = {f.name for f in fields(Fingerprinter)} - set(RUNTIME_PARAMS)
    if set(params) != expected:
        raise ValueError(
            f"{where / METADATA}: its 'fingerprint' entry must give the parameters "
            f"{sorted(expected)}; missing {sorted(expected - set(params))}, "
            f"unknown {sorted(set(params) - expected)}."
        )
    classes = np.unique(np.array(metadata["classes"]))
    module = _network.ConvNet(
        **_network.module_params(
            module_kwargs(metadata), len(classes), tuple(metadata["image_shape"])
        )
    )
    with (where / WEIGHTS).open("rb") as handle:
        module.load_state_dict(torch.load(handle, map_location=device, weights_only=True))
    module.to(device).eval()
    novelty = metadata.get("novelty")
    score = None
    if novelty:
        with (where / NOVELTY).open("rb") as handle, np.load(handle, allow_pickle=False) as arrays:
            score = _novelty.from_state(novelty["score"], dict(arrays))
    return SavedModel(
        metadata=metadata,
        classes=classes,
        fingerprinter=Fingerprinter(device=device, n_jobs=n_jobs, **params),
        module=module,
        novelty=score,
        offset=float(novelty["offset"]) if novelty else None,
        unknown_label=novelty["unknown_label"] if novelty else None,
    )
