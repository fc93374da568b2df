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
        self.state = {"means": means, "precision": LedoitWolf().fit(centred).precision_}
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
