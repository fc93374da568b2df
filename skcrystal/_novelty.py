"""Novelty scores on a trained network's outputs: higher means more like the training classes.

Each score is fitted on the penultimate features (the 128 units before the output layer) and
labels of the training images, and evaluated on features and logits. Their fitted state is a
dict of arrays, so that a model can be saved as plain arrays and loaded without running code.

* ``"mahalanobis"``: minus the smallest Mahalanobis distance to a class mean, with one
  covariance shared by the classes (Lee et al., NeurIPS 2018);
* ``"knn"``: minus the distance to the k-th nearest training feature, on unit-length features
  (Sun et al., ICML 2022);
* ``"energy"``: the log-sum-exp of the logits (Liu et al., NeurIPS 2020);
* ``"max_proba"``: the largest softmax probability (Hendrycks and Gimpel, ICLR 2017).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, softmax

#: Smallest eigenvalue of the Mahalanobis covariance, relative to the mean one, and smallest
#: standard deviation relative to the features' root mean square (float32 features are
#: rounded at about 1e-7 of it). Without them a feature that hardly varies over the training
#: images (a dead ReLU unit, an untrained network) gets a precision of 1e13, and the rounding
#: of a feature moves the score by tens of percent.
MIN_VARIANCE = 1e-4
MIN_DEVIATION = 1e-5
#: Training features the k-nearest-neighbour score keeps, at most.
KNN_BANK = 2000
#: Neighbour whose distance is the k-nearest-neighbour score.
KNN_K = 10


def _unit(features):
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


class Mahalanobis:
    """Class means and a shared, shrunk (Ledoit-Wolf) precision matrix."""

    name = "mahalanobis"

    def fit(self, features, y, random_state=None):
        from sklearn.covariance import LedoitWolf

        classes = np.unique(y)
        means = np.stack([features[y == c].mean(axis=0) for c in classes])
        centred = features - means[np.searchsorted(classes, y)]
        values, vectors = np.linalg.eigh(LedoitWolf().fit(centred).covariance_)
        resolution = (MIN_DEVIATION * np.sqrt(np.mean(features**2))) ** 2
        values = np.maximum(
            values, max(MIN_VARIANCE * values.mean(), resolution, np.finfo(float).tiny)
        )
        self.state = {"means": means, "precision": (vectors / values) @ vectors.T}
        return self

    def score(self, features, logits):
        delta = features[:, None, :] - self.state["means"][None, :, :]
        distances = np.einsum("nck,kl,ncl->nc", delta, self.state["precision"], delta)
        return -distances.min(axis=1)


class NearestNeighbours:
    """Distance to the k-th nearest of (at most :data:`KNN_BANK`) unit-length training features."""

    name = "knn"

    def fit(self, features, y, random_state=None):
        rng = np.random.default_rng(random_state)
        keep = rng.permutation(len(features))[:KNN_BANK]
        self.state = {"bank": _unit(features[np.sort(keep)])}
        return self

    def score(self, features, logits):
        from sklearn.neighbors import NearestNeighbors

        bank = self.state["bank"]
        k = min(KNN_K, len(bank))
        distances, _ = NearestNeighbors(n_neighbors=k).fit(bank).kneighbors(_unit(features))
        return -distances[:, -1]


class Energy:
    """Log-sum-exp of the logits; needs no fitting."""

    name = "energy"

    def fit(self, features, y, random_state=None):
        self.state = {}
        return self

    def score(self, features, logits):
        return logsumexp(logits, axis=1)


class MaxProba(Energy):
    """The largest softmax probability; needs no fitting."""

    name = "max_proba"

    def score(self, features, logits):
        return softmax(logits, axis=1).max(axis=1)


#: Name -> score class (``CrystalClassifier(novelty=...)``).
SCORES = {score.name: score for score in (Mahalanobis, NearestNeighbours, Energy, MaxProba)}


def from_state(name, state):
    """A fitted score from its name and the arrays of its ``state``."""
    score = SCORES[name]()
    score.state = {key: np.asarray(value) for key, value in state.items()}
    return score
