"""The paper's ConvNet and :class:`CrystalClassifier`, a skorch ``NeuralNetClassifier``."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from scipy.sparse import issparse
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.dataset import ValidSplit

from . import _network, _novelty
from ._network import BATCH_SIZE, BatchNorm1d, ConvNet

__all__ = ["PRECISIONS", "BatchNorm1d", "ConvNet", "CrystalClassifier"]

#: Arithmetic of the training steps (``CrystalClassifier(precision=...)``).
PRECISIONS = ("float32", "bfloat16")


def _encoded_accuracy(net, X, y):
    """Validation accuracy on the encoded labels skorch trains with."""
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == np.asarray(y)))


class CrystalClassifier(NeuralNetClassifier):
    """Classify diffraction fingerprints with the paper's ConvNet.

    A skorch ``NeuralNetClassifier`` with the paper's defaults (Adam, learning rate 1e-3,
    batches of 32, 5 epochs, cross-entropy, 10 % stratified validation split). It takes the
    images of :class:`~skcrystal.DiffractionFingerprint` and labels of any hashable type;
    the number of classes and the image size are read from the data at ``fit``, so a
    ``GridSearchCV`` may vary the fingerprint's ``n_pixels``. ``predict`` returns labels,
    ``predict_proba`` probabilities in the order of ``classes_``.

    Parameters
    ----------
    module : type, default=ConvNet
        The network class; configure it with ``module__...`` parameters.
    criterion : type, default=torch.nn.CrossEntropyLoss
        The loss, computed on the logits and the encoded labels.
    optimizer : type, default=torch.optim.Adam
        The optimizer class; configure it with ``optimizer__...`` parameters.
    lr : float, default=1e-3
        Learning rate of the optimizer.
    max_epochs : int, default=5
        Passes over the training data in ``fit``.
    batch_size : int, default=32
        Images per training step, and per batch of the predictions.
    train_split : callable or None, default=ValidSplit(10, stratified=True)
        10 % of the training data for validation; ``None`` trains on all of it.
    random_state : int or None, default=None
        Seeds the weights, the shuffling and the dropout of ``fit`` (in a fork of torch's
        generators, so the caller's random state is left alone): training on CPU is then
        reproducible.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of the training steps. ``"bfloat16"`` autocasts them to bfloat16 (about
        1.7 times faster on CPUs with AVX512-BF16 or AMX, and on recent GPUs); validation
        and predictions stay in float32.
    novelty : {"mahalanobis", "knn", "energy", "max_proba"}, default="mahalanobis"
        The novelty score of :meth:`score_samples` (see the user guide for how they compare):
        minus the smallest Mahalanobis distance of the penultimate features to a class mean
        (shared covariance), minus the distance to the 10th nearest training feature (unit
        length), the log-sum-exp of the logits, or the largest probability.
    acceptance : float, default=0.99
        Least share of held-out images of the training classes whose score is at least
        ``offset_``: the threshold is their ``1 - acceptance`` quantile (rounded down to a
        score of one of them). The held-out images are the validation split of
        ``train_split`` (the training images if it is ``None``).
    unknown_label : object or None, default="unknown"
        What :meth:`predict` returns for an image scored below ``offset_``; ``None`` turns the
        reject option off.
    classes : array-like or None, default=None
        Every label, if ``y`` may lack some; ``predict_proba`` has a column for each.
        ``None``: the labels of ``y``.
    verbose : int, default=0
        What skorch prints: ``0`` nothing, ``1`` a line of losses per epoch.
    **kwargs
        Any other skorch parameter (``device="cuda"``, ``callbacks``, ``module__dropout``,
        ``optimizer__weight_decay``, ...).

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in ``fit``, sorted.
    image_shape_ : tuple of int
        ``(channels, height, width)`` of the training images.
    offset_ : float
        Threshold of the novelty score: :meth:`predict` says ``unknown_label`` below it.
    novelty_ : object
        The fitted novelty score.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((40, 3, 16, 16), dtype=np.float32)
    >>> labels = np.array(["fcc", "bcc"] * 20)
    >>> net = CrystalClassifier(max_epochs=1, random_state=0, train_split=None)
    >>> net.fit(images, labels).predict(images[:3]).dtype.kind
    'U'
    """

    def __init__(
        self,
        module=ConvNet,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=5,
        batch_size=BATCH_SIZE,
        train_split=ValidSplit(10, stratified=True),  # noqa: B008 -- skorch's own idiom; it holds no state
        random_state=None,
        precision="float32",
        novelty="mahalanobis",
        acceptance=0.99,
        unknown_label="unknown",
        classes=None,
        verbose=0,
        **kwargs,
    ):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            classes=classes,
            verbose=verbose,
            **kwargs,
        )
        self.random_state = random_state
        self.precision = precision
        self.novelty = novelty
        self.acceptance = acceptance
        self.unknown_label = unknown_label

    @property
    def _default_callbacks(self):
        # skorch's "accuracy" scorer would compare predict()'s labels with the encoded
        # targets it trains on; score the encoded predictions instead.
        return [
            (name, EpochScoring(_encoded_accuracy, name="valid_acc", lower_is_better=False))
            if name == "valid_acc"
            else (name, callback)
            for name, callback in super()._default_callbacks
        ]

    @property
    def classes_(self):
        """The labels seen in ``fit``, sorted: the columns of ``predict_proba``.

        Returns
        -------
        ndarray of shape (n_classes,)
            The labels, of the type seen in ``fit``.

        Raises
        ------
        AttributeError
            If the classifier is not fitted (so that ``hasattr`` says ``False``).

        Examples
        --------
        >>> from skcrystal import load_pretrained
        >>> load_pretrained()[-1].classes_.tolist()
        ['bcc', 'bct139', 'bct141', 'diam', 'fcc', 'hex/rh', 'sc']
        """
        try:
            return self.label_encoder_.classes_
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__} is not fitted yet: it has no classes_."
            ) from None

    def fit(self, X, y, **fit_params):
        """Train on fingerprint images.

        Parameters
        ----------
        X : ndarray of shape (n_samples, channels, n_pixels, n_pixels)
            Images, e.g. from :class:`~skcrystal.DiffractionFingerprint`.
        y : array-like of shape (n_samples,)
            Labels of any hashable type.
        **fit_params : dict
            Passed on by skorch to the module's ``forward`` and to the ``train_split`` call.

        Returns
        -------
        self : CrystalClassifier
            The trained classifier, with its novelty score fitted (:meth:`fit_novelty`).

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> images = rng.random((20, 3, 16, 16), dtype=np.float32)
        >>> net = CrystalClassifier(max_epochs=1, random_state=0, train_split=None,
        ...                         module__filters=(4, 4, 4, 4, 4, 4), module__hidden=8)
        >>> net.fit(images, np.array(["fcc", "bcc"] * 10)).classes_
        array(['bcc', 'fcc'], dtype='<U3')
        """
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.novelty not in _novelty.SCORES:
            raise ValueError(
                f"novelty must be one of {sorted(_novelty.SCORES)}, got {self.novelty!r}."
            )
        if not 0 < self.acceptance <= 1:
            raise ValueError(f"acceptance must be in (0, 1], got {self.acceptance!r}.")
        X = self._check_images(X)
        if len(X) == 0:
            raise ValueError(
                f"Found 0 sample(s) (shape={X.shape}) while a minimum of 1 is required."
            )
        y = self._check_labels(y, len(X))
        # Training on (warm_start) keeps the classes and image size the network was built for.
        continuing = self.warm_start and getattr(self, "initialized_", False)
        if continuing and X.shape[1:] != tuple(self.image_shape_):
            raise ValueError(
                f"X has images of shape {X.shape[1:]}, but the network (warm_start=True) was "
                f"built for {tuple(self.image_shape_)}."
            )
        if not continuing:
            self.label_encoder_ = LabelEncoder().fit(
                y if self.classes is None else np.asarray(self.classes)
            )
        unseen = sorted(set(np.unique(y).tolist()) - set(self.classes_.tolist()), key=str)
        if unseen:
            where = "the trained classes (warm_start=True)" if continuing else "classes"
            raise ValueError(f"y has labels that are not in {where}: {unseen[:5]}.")
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has one class only ({self.classes_[0]!r}); a classifier needs two or more."
            )
        self.image_shape_ = X.shape[1:]
        encoded = self.label_encoder_.transform(y).astype(np.int64)
        # Seeded in a fork of torch's generators: the caller's random state is left as it was.
        with torch.random.fork_rng(devices=[] if torch.device(self.device).type == "cpu" else None):
            if self.random_state is not None:
                torch.manual_seed(self.random_state)
            if not self.warm_start or not self.initialized_:
                self.initialize()
            elif getattr(self, "optimizer_", None) is None:
                # Loaded to predict (load_pretrained), now trained on: the optimizer was left out.
                self._initialize_optimizer()
            NeuralNetClassifier.partial_fit(self, X, encoded, **fit_params)
            return self.fit_novelty(X, y)

    def fit_novelty(self, X, y, cv=None):
        """Fit the novelty score and its threshold ``offset_``; ``fit`` calls it.

        Call it yourself to change ``novelty`` or ``acceptance`` of a trained network without
        training it again, or to fit them on crystals the network was not trained on.

        Parameters
        ----------
        X : ndarray of shape (n_samples, channels, n_pixels, n_pixels)
            Images of the training classes.
        y : array-like of shape (n_samples,)
            Their labels, as given to ``fit``.
        cv : None, int or cross-validation splitter, default=None
            Which scores ``offset_`` is the ``1 - acceptance`` quantile of.

            - ``None``: the score is fitted on the training part of ``train_split``'s split
              of ``X``, and ``offset_`` set on the validation part (on the training part if
              ``train_split`` is ``None``). For the network's own training images: it has
              seen the training part, whose features are more compact than new ones.
            - an int or a splitter: cross-fitting. Every image is scored by a score fitted on
              the other folds (an int: that many stratified folds, shuffled with
              ``random_state``), ``offset_`` is set on all of them, and the score is then
              fitted on all of ``X``. For images the network has not seen: the quantile
              rests on every image, not on a tenth of them, so an extreme quantile (the
              shipped ``acceptance=0.995``) is not the luck of a few images.

        Returns
        -------
        self : CrystalClassifier
            The classifier with ``novelty_`` and ``offset_`` fitted; the network is unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> images = rng.random((60, 3, 16, 16), dtype=np.float32)
        >>> labels = np.array(["fcc", "bcc"] * 30)
        >>> net = CrystalClassifier(max_epochs=1, random_state=0,
        ...                         module__filters=(4, 4, 4, 4, 4, 4), module__hidden=8)
        >>> net = net.fit(images, labels)
        >>> new = rng.random((40, 3, 16, 16), dtype=np.float32)
        >>> net.fit_novelty(new, labels[:40], cv=5).predict(new).shape
        (40,)
        """
        self.check_is_fitted()
        if self.novelty not in _novelty.SCORES:
            raise ValueError(
                f"novelty must be one of {sorted(_novelty.SCORES)}, got {self.novelty!r}."
            )
        X = self._check_images(X)
        y = self.label_encoder_.transform(np.asarray(y)).astype(np.int64)
        new_score = _novelty.SCORES[self.novelty]
        if cv is None:
            train, held_out = self.get_split_datasets(X, y)
            features, logits, labels = self._outputs(train)
            self.novelty_ = new_score().fit(features, labels, random_state=self.random_state)
            if held_out is not None:
                features, logits, _ = self._outputs(held_out)
            scores = self.novelty_.score(features, logits)
        else:
            from sklearn.model_selection import StratifiedKFold, check_cv

            if isinstance(cv, numbers.Integral):
                cv = StratifiedKFold(cv, shuffle=True, random_state=self.random_state)
            features, logits, labels = self._outputs(self.get_dataset(X, y))
            scores = np.empty(len(labels))
            for fold, out_of_fold in check_cv(cv, labels, classifier=True).split(features, labels):
                part = new_score().fit(features[fold], labels[fold], random_state=self.random_state)
                scores[out_of_fold] = part.score(features[out_of_fold], logits[out_of_fold])
            self.novelty_ = new_score().fit(features, labels, random_state=self.random_state)
        # "lower": at least that share of the scored images is accepted, however few they are.
        self.offset_ = float(np.quantile(scores, 1 - self.acceptance, method="lower"))
        return self

    def _outputs(self, dataset):
        """Penultimate features (the input of the last linear layer), logits and targets."""
        targets = []

        def batches():
            for batch, target in self.get_iterator(dataset, training=False):
                targets.append(torch.as_tensor(target))
                yield batch

        features, logits = _network.outputs(self.module_, batches(), self.device)
        return features, logits, torch.cat(targets).numpy()

    def score_samples(self, X):
        """Novelty score: higher means more like the training classes.

        ``predict`` says ``unknown_label`` where it is below ``offset_``. ``novelty`` says
        which score.

        Parameters
        ----------
        X : ndarray of shape (n_samples, channels, n_pixels, n_pixels)
            Fingerprint images.

        Returns
        -------
        ndarray of shape (n_samples,)
            The novelty score of each image.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> from skcrystal import load_pretrained
        >>> model = load_pretrained()
        >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> images = model[:-1].transform([fe])  # the pipeline's fingerprint step
        >>> classifier = model[-1]
        >>> bool(classifier.score_samples(images)[0] >= classifier.offset_)  # not unknown
        True
        """
        features, logits = self._scored(X)
        return self.novelty_.score(features, logits)

    def _scored(self, X):
        self.check_is_fitted(["module_", "novelty_"])
        features, logits, _ = self._outputs(self.get_dataset(self._check_images(X)))
        return features, logits

    @property
    def partial_fit(self):
        """Not supported: the label encoding and the novelty threshold are fitted on all the data.

        Continue training with ``warm_start=True`` and ``fit`` instead.

        Examples
        --------
        >>> hasattr(CrystalClassifier(), "partial_fit")
        False
        """
        raise AttributeError(
            f"{type(self).__name__} has no partial_fit: its labels and novelty threshold are fitted on "
            "the whole training set. Use fit, with warm_start=True to continue training."
        )

    @staticmethod
    def _check_labels(y, n_samples):
        from sklearn.utils.multiclass import type_of_target

        if y is None:
            raise ValueError("CrystalClassifier requires y to be passed, but the target y is None.")
        y = np.asarray(y)
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} images but y has {len(y)} labels.")
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"Unknown label type: {kind!r}. y must be one class label per image.")
        return y

    def initialize_for_prediction(self):
        """Initialize what predicting needs: the module and criterion, no optimizer.

        What :func:`skcrystal.load_pretrained` calls before it loads the weights. Building the
        optimizer (skorch's :meth:`initialize`) imports ``torch._dynamo``, about 1.7 s of a
        cold start; ``fit`` with ``warm_start=True`` builds it when it trains.

        Returns
        -------
        self : CrystalClassifier
            The classifier with ``module_`` and ``criterion_`` built, ready for the weights.

        Examples
        --------
        >>> from skcrystal import load_pretrained
        >>> classifier = load_pretrained().named_steps["classifier"]
        >>> classifier.initialized_, hasattr(classifier, "optimizer_")
        (True, False)
        """
        # skorch's own steps of initialize() (they allow setting module_ and criterion_),
        # all but the optimizer.
        self._initialize_virtual_params()
        self._initialize_callbacks()
        self._initialize_module()
        self._initialize_criterion()
        self._initialize_history()
        self.initialized_ = True
        return self

    def initialize_module(self):
        """Build the module with the number of classes and image size seen in ``fit``.

        skorch calls it while it initializes the classifier; before ``fit`` the module's own
        defaults (or ``module__...`` parameters) apply.

        Returns
        -------
        self : CrystalClassifier
            The classifier with ``module_`` built.

        Examples
        --------
        >>> net = CrystalClassifier(module__n_pixels=16).initialize_for_prediction()
        >>> net.module_.classifier[-1].out_features  # no data seen: ConvNet's 7 classes
        7
        """
        params = self.get_params_for("module")
        if hasattr(self, "label_encoder_"):
            params = _network.module_params(params, len(self.classes_), self.image_shape_)
        self.module_ = self.initialized_instance(self.module, params)
        return self

    def infer(self, x, **fit_params):
        """The module's output; training steps autocast to bfloat16 if ``precision`` says so.

        Parameters
        ----------
        x : torch.Tensor or ndarray of shape (n_samples, channels, n_pixels, n_pixels)
            A batch of images.
        **fit_params : dict
            Passed on to the module's ``forward``.

        Returns
        -------
        torch.Tensor of shape (n_samples, n_classes)
            The logits, in float32.

        Examples
        --------
        >>> import torch
        >>> from skcrystal import load_pretrained
        >>> load_pretrained()[-1].infer(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 7])
        """
        if self.precision == "bfloat16" and self.module_.training:
            with torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16):
                return super().infer(x, **fit_params).float()
        return super().infer(x, **fit_params)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, channels, n_pixels, n_pixels)
            Fingerprint images.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The softmax of the logits; each row sums to one.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> from skcrystal import load_pretrained
        >>> model = load_pretrained()
        >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> proba = model[-1].predict_proba(model[:-1].transform([fe]))
        >>> proba.shape, model[-1].classes_[proba.argmax(axis=1)]
        ((1, 7), array(['bcc'], dtype='<U6'))
        """
        if not isinstance(X, torch.utils.data.Dataset):  # skorch passes its own datasets
            self.check_is_fitted()
            X = self._check_images(X)
        return super().predict_proba(X)

    def predict(self, X):
        """Labels (of the type seen in ``fit``), or ``unknown_label`` below ``offset_``.

        ``unknown_label`` is not one of ``classes_``, whose order is that of the columns of
        ``predict_proba``, which stays closed-set.

        Parameters
        ----------
        X : ndarray of shape (n_samples, channels, n_pixels, n_pixels)
            Fingerprint images.

        Returns
        -------
        ndarray of shape (n_samples,)
            Of the labels' dtype, or object if ``unknown_label`` is not of their kind.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> from skcrystal import load_pretrained
        >>> model = load_pretrained()
        >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> model[-1].predict(model[:-1].transform([fe]))
        array(['bcc'], dtype='<U7')
        """
        if self.unknown_label is None:
            self.check_is_fitted()
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        features, logits = self._scored(X)
        labels = self.classes_[logits.argmax(axis=1)]
        unknown = self.novelty_.score(features, logits) < self.offset_
        unknown_label = np.asarray(self.unknown_label)
        kinds = {labels.dtype.kind, unknown_label.dtype.kind}
        same_kind = kinds <= set("US") or kinds <= set("iuf")
        labels = labels.astype(np.result_type(labels, unknown_label) if same_kind else object)
        labels[unknown] = self.unknown_label
        return labels

    def predict_uncertainty(
        self, X, n_passes=_network.N_PASSES, random_state=None, *, n_samples="deprecated"
    ):
        """Monte-Carlo-dropout probabilities and their uncertainty.

        Dropout stays active at prediction (batch normalisation does not) and each image is
        classified ``n_passes`` times, as in ARISE (Leitherer et al. 2021). Amorphous or
        unknown structures show up as a high mutual information.

        Parameters
        ----------
        X : ndarray of shape (n_samples, channels, n_pixels, n_pixels)
            Fingerprint images.
        n_passes : int, default=30
            Stochastic forward passes.
        random_state : int or None, default=None
            Seeds the dropout masks (torch's global generator is left as it was).
        n_samples : int
            Deprecated alias of ``n_passes`` (elsewhere ``n_samples`` counts rows); it will
            be removed in 0.3.

        Returns
        -------
        sklearn.utils.Bunch
            ``proba`` (mean probabilities, ``(n, n_classes)``), ``std`` (their standard
            deviation over the passes), ``predictive_entropy`` (entropy of the mean, nats)
            and ``mutual_information`` (predictive entropy minus the mean entropy of the
            passes, nats), the latter two of shape ``(n,)``.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> from skcrystal import load_pretrained
        >>> model = load_pretrained()
        >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> result = model[-1].predict_uncertainty(model[:-1].transform([fe]), n_passes=3,
        ...                                        random_state=0)
        >>> result.proba.shape, result.mutual_information.shape
        ((1, 7), (1,))
        """
        if not (isinstance(n_samples, str) and n_samples == "deprecated"):
            warnings.warn(
                "predict_uncertainty(n_samples=...) is deprecated and will be removed in 0.3: use n_passes.",
                FutureWarning,
                stacklevel=2,
            )
            n_passes = n_samples
        if not isinstance(n_passes, (int, np.integer)) or n_passes < 1:
            raise ValueError(f"n_passes must be a positive integer, got {n_passes!r}.")
        self.check_is_fitted()
        X = self._check_images(X)
        # Plain slices, not skorch's DataLoader, which draws from the seeded generator: the
        # masks are then those of the command line's --uncertainty.
        passes = _network.dropout_passes(
            self.module_,
            lambda: _network.batches(X, self.batch_size),
            n_passes,
            random_state,
            self.device,
        )
        return Bunch(**_network.uncertainty(passes))

    @staticmethod
    def _check_images(X):
        if issparse(X):
            raise TypeError(
                f"CrystalClassifier takes dense images; got a sparse {type(X).__name__}: sparse input is not supported."
            )
        if getattr(X, "dtype", None) is not None and np.dtype(X.dtype).kind == "c":
            raise ValueError("Complex data not supported: images are real intensities.")
        try:
            X = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError):
            first = X[0] if isinstance(X, (list, tuple)) and X else X
            raise TypeError(
                f"CrystalClassifier takes fingerprint images, got a {type(X).__name__} of "
                f"{type(first).__name__}; put a DiffractionFingerprint before it in a Pipeline."
            ) from None
        if X.ndim != 4 or X.shape[2] != X.shape[3]:
            raise ValueError(
                f"CrystalClassifier takes images of shape (n_samples, channels, n_pixels, n_pixels), got {X.shape}. "
                "Reshape your data (one image: X[None])."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("the images contain NaN or infinite values.")
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags
