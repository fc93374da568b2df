"""Local classification of large samples: which crystal class is where, per region and per atom.

Strided pattern matching, the outlook of Ziletti et al. (2018): spherical regions centred on a
grid of a given stride cover a large sample (a periodic simulation box or a point cloud
without a cell, such as an atom-probe reconstruction). Each region is seen in its own
canonical frame, found from its own Bragg peaks (so each grain in its own orientation), and
classified by the model with probabilities, novelty score and the reject option. Each atom
is then labelled by a vote of the regions whose clusters hold it (see :class:`LocalLabels`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from . import _diffraction

#: Default region radius, in units of the sample's median nearest-neighbour distance: it holds
#: the model's cluster (about 3.5 nearest-neighbour distances for a 256-atom cluster of a
#: close-packed crystal, 4.6 for diamond) around a basis site up to half a bond off the centre.
REGION_REACH = 5.0
#: Regions processed together: bounds the memory of the neighbour lists and images.
CHUNK_REGIONS = 512
#: Point clouds: a grid centre whose region holds fewer atoms than this share of the median
#: region lies outside the sample (or on its surface) and is left out.
MIN_REGION_FILL = 0.5
#: A region whose cluster has a smaller share of its atoms on the region's lattice is not one
#: crystal (it sits astride a grain or phase boundary) and is unknown. Regions of one crystal
#: measured 0.97 or more (Debye phonons at a Lindemann ratio of 0.15; half the atoms missing
#: and 0.1 A of noise), regions centred within 6 A of a grain boundary 0.84 to 0.87 (median).
MIN_ON_LATTICE = 0.95
#: An atom's vote weighs each region by a Gaussian of the atom's distance from the centre of
#: the region's cluster, of this width relative to the cluster's radius: the regions centred
#: nearest count most, so a region astride a nearby boundary does not outvote them.
VOTE_WIDTH = 0.5
#: With worker processes, the main process renders and classifies a chunk of regions with all
#: of torch's threads if at least this share of them is rendered (one crystal each), else
#: with one thread.
MAIN_THREADS_SHARE = 0.7
#: Atoms whose nearest-neighbour distance estimates the sample's.
SPACING_ATOMS = 4096


@dataclass
class LocalLabels:
    """Labels of the regions of one sample, and of its atoms.

    Attributes
    ----------
    centres : ndarray of shape (n_regions, 3)
        Region centres (Cartesian, Angstrom).
    labels : ndarray of shape (n_regions,)
        Each region's class, or ``unknown_label`` where its novelty score is below the
        model's threshold, where less than :data:`MIN_ON_LATTICE` of its cluster's atoms sit
        on its lattice (it is not one crystal: a grain boundary, a liquid), or where it could
        not be fingerprinted (see ``errors``).
    nearest : ndarray of shape (n_regions,)
        The most probable class (closed set), whatever the score; ``None`` for a region the
        network did not see.
    proba : ndarray of shape (n_regions, n_classes)
        Class probabilities, columns in the order of ``classes``; nan for a region the
        network did not see: one not fingerprinted, or, with the reject option on, one that
        is not one crystal (:data:`MIN_ON_LATTICE`), which is unknown whatever the network
        would say.
    scores : ndarray of shape (n_regions,)
        Novelty scores (higher: more like the training classes); nan where ``proba`` is.
    cluster_sizes : ndarray of shape (n_regions,)
        Atoms in each region's cluster.
    on_lattice : ndarray of shape (n_regions,)
        Share of each cluster's atoms on the region's lattice (0 where none was found).
    classes : ndarray of shape (n_classes,)
    atom_labels : ndarray of shape (n_atoms,)
        The vote of the regions whose clusters hold the atom, each weighted by a Gaussian of
        the atom's distance from its cluster's centre (:data:`VOTE_WIDTH`):
        ``unknown_label`` if more than half the weight is of unknown regions, else the class
        of the highest weighted mean probability over the others. An atom that no cluster holds (a stride wider than the
        clusters) takes the label of the nearest region centre.
    atom_proba : ndarray of shape (n_atoms, n_classes)
        Weighted mean class probabilities of the regions whose clusters hold the atom and that
        the network saw (of the nearest region if none holds it; nan if none was seen).
    atom_coverage : ndarray of shape (n_atoms,)
        How many regions' clusters hold the atom (0: it took the nearest region's answer).
    atom_filled_labels : ndarray of shape (n_atoms,)
        ``atom_labels``, with each unknown atom within a region radius of the centre of a
        region that got a class given the class of the nearest such region: the atoms of
        grain and phase boundaries are shared out among the crystals around them, as a
        Voronoi partition, while the inside of a liquid or amorphous pocket wider than a
        region stays unknown. Behind ``phase_fractions(unknown="fill")``.
    unknown_label : object
    errors : dict
        Region index -> why it could not be fingerprinted.

    Examples
    --------
    >>> import os, tempfile
    >>> from ase.build import bulk
    >>> copper = bulk("Cu", cubic=True) * 6
    >>> result = LocalClassifier(stride=12.0).classify(copper)
    >>> result.labels.tolist(), result.phase_fractions(unknown="drop")
    (['fcc', 'fcc', 'fcc', 'fcc', 'fcc', 'fcc', 'fcc', 'fcc'], {'fcc': 1.0})
    >>> folder = tempfile.mkdtemp()
    >>> result.write_extxyz(os.path.join(folder, "labels.extxyz"), copper)
    >>> result.save_grid(os.path.join(folder, "regions.csv"))
    >>> open(os.path.join(folder, "regions.csv")).readline().split(",")[:5]
    ['x', 'y', 'z', 'label', 'nearest']
    """

    centres: np.ndarray
    labels: np.ndarray
    nearest: np.ndarray
    proba: np.ndarray
    scores: np.ndarray
    cluster_sizes: np.ndarray
    on_lattice: np.ndarray
    classes: np.ndarray
    atom_labels: np.ndarray
    atom_proba: np.ndarray
    atom_coverage: np.ndarray
    atom_filled_labels: np.ndarray
    unknown_label: object = "unknown"
    errors: dict = field(default_factory=dict)

    def phase_fractions(self, unknown="keep"):
        """Share of the atoms per label, as a dict.

        Parameters
        ----------
        unknown : {"keep", "drop", "fill"}, default="keep"
            ``"keep"``: the unknown atoms are a label of their own. ``"drop"``: shares of the
            atoms that got a class. ``"fill"``: shares of ``atom_filled_labels``, where the
            unknown atoms of grain and phase boundaries take the class of the nearest
            classified region; the estimate of a polycrystal's phase fractions (boundaries
            are not spread alike over the phases: small grains have more of them).

        Returns
        -------
        fractions : dict of str to float
            Share of the atoms of each label, in the order of the sorted labels; empty if no
            atom is counted.

        Examples
        --------
        >>> from ase.build import bulk
        >>> result = LocalClassifier(stride=12.0).classify(bulk("Cu", cubic=True) * 6)
        >>> result.phase_fractions(unknown="fill")
        {'fcc': 1.0}
        """
        choices = {
            "keep": self.atom_labels,
            "drop": self.atom_labels,
            "fill": self.atom_filled_labels,
        }
        if unknown not in choices:
            raise ValueError(f"unknown must be 'keep', 'drop' or 'fill'; got {unknown!r}.")
        labels = choices[unknown]
        if unknown == "drop":
            labels = labels[
                np.array([label != self.unknown_label for label in labels.tolist()], dtype=bool)
            ]
        if len(labels) == 0:
            return {}
        values, counts = np.unique(labels.astype(str), return_counts=True)
        return {str(value): float(count / len(labels)) for value, count in zip(values, counts)}

    def write_extxyz(self, path, structure, append=False):
        """Write the sample with per-atom columns, for OVITO or ASE.

        Columns: ``skcrystal_label`` (string), ``skcrystal_class`` (index into ``classes``,
        -1 for unknown), ``skcrystal_proba`` (the mean probability of the atom's nearest
        class), ``skcrystal_coverage`` and ``skcrystal_filled`` (``atom_filled_labels``).

        Parameters
        ----------
        path : str or path-like
            The file to write (extended xyz, whatever its name).
        structure : pymatgen Structure or Molecule, or ase.Atoms
            The sample that was classified (same atom order).
        append : bool, default=False
            Add a frame to the file (trajectories).

        Examples
        --------
        >>> import os, tempfile
        >>> import ase.io
        >>> from ase.build import bulk
        >>> copper = bulk("Cu", cubic=True) * 3
        >>> result = LocalClassifier(stride=20.0).classify(copper)
        >>> path = os.path.join(tempfile.mkdtemp(), "labels.extxyz")
        >>> result.write_extxyz(path, copper)
        >>> atoms = ase.io.read(path)
        >>> len(atoms), sorted(set(atoms.arrays["skcrystal_label"]))
        (108, ['fcc'])
        """
        import ase.io

        atoms = _as_atoms(structure)
        if len(atoms) != len(self.atom_labels):
            raise ValueError(
                f"the structure has {len(atoms)} atoms, the labels are for {len(self.atom_labels)}."
            )
        index = {label: i for i, label in enumerate(self.classes.tolist())}
        atoms.new_array("skcrystal_label", np.array([str(label) for label in self.atom_labels]))
        atoms.new_array(
            "skcrystal_class",
            np.array([index.get(label, -1) for label in self.atom_labels.tolist()]),
        )
        atoms.new_array(
            "skcrystal_proba", np.nan_to_num(np.nanmax(_filled(self.atom_proba), axis=1), nan=0.0)
        )
        atoms.new_array("skcrystal_coverage", self.atom_coverage.astype(int))
        atoms.new_array(
            "skcrystal_filled", np.array([str(label) for label in self.atom_filled_labels])
        )
        ase.io.write(path, atoms, format="extxyz", append=append)

    def save_grid(self, path):
        """Write the regions: ``.npz`` (arrays) or ``.csv`` (one row per region).

        Parameters
        ----------
        path : str or path-like
            The file to write; its suffix, ``.npz`` or ``.csv``, sets the format.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from ase.build import bulk
        >>> result = LocalClassifier(stride=20.0).classify(bulk("Cu", cubic=True) * 3)
        >>> path = os.path.join(tempfile.mkdtemp(), "regions.npz")
        >>> result.save_grid(path)
        >>> with np.load(path) as regions:
        ...     regions["centres"].shape, regions["labels"].tolist()
        ((1, 3), ['fcc'])
        """
        path = Path(path)
        columns = {
            "centres": self.centres,
            "labels": self.labels.astype(str),
            "nearest": self.nearest.astype(str),
            "proba": self.proba,
            "scores": self.scores,
            "cluster_sizes": self.cluster_sizes,
            "on_lattice": self.on_lattice,
            "classes": np.asarray(self.classes).astype(str),
        }
        if path.suffix == ".npz":
            np.savez(path, **columns)
        elif path.suffix == ".csv":
            import csv

            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                classes = columns["classes"].tolist()
                writer.writerow(
                    [
                        "x",
                        "y",
                        "z",
                        "label",
                        "nearest",
                        "score",
                        "cluster_size",
                        "on_lattice",
                        *[f"p_{c}" for c in classes],
                    ]
                )
                for i in range(len(self.centres)):
                    writer.writerow(
                        [
                            *np.round(self.centres[i], 4),
                            columns["labels"][i],
                            columns["nearest"][i],
                            f"{self.scores[i]:.6g}",
                            int(self.cluster_sizes[i]),
                            f"{self.on_lattice[i]:.4f}",
                            *[f"{p:.6g}" for p in self.proba[i]],
                        ]
                    )
        else:
            raise ValueError(f"save_grid writes .npz or .csv files; got {path.name!r}.")


def _filled(proba):
    """``proba`` with all-nan rows as zeros (atoms no region holds), for reductions."""
    return np.where(np.isnan(proba).all(axis=1, keepdims=True), 0.0, proba)


class LocalClassifier(BaseEstimator):
    """Per-region and per-atom crystal classes of a large sample (strided pattern matching).

    Parameters
    ----------
    model : Pipeline or None, default=None
        A fitted ``DiffractionFingerprint`` + ``CrystalClassifier`` pipeline (steps
        ``"fingerprint"`` and ``"classifier"``); ``None``: the shipped model.
    box : float or None, default=None
        Region diameter, Angstrom. ``None``: :data:`REGION_REACH` times the sample's median
        nearest-neighbour distance, twice that, which holds the model's cluster. Smaller
        regions resolve finer detail but cut the cluster short (see the benchmark of region
        size against accuracy in the user guide).
    stride : float, default=4.0
        Spacing of the region centres, Angstrom.
    n_jobs : int or None, default=None
        Processes for the regions' clusters (joblib semantics).
    device : str or None, default=None
        Device of the shipped model (``model=None``), e.g. ``"cuda"``.
    verbose : int, default=0
        1 shows a progress bar over the regions.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]) * 8
    >>> result = LocalClassifier(stride=8.0).classify(iron)
    >>> len(result.centres), set(result.labels), result.phase_fractions()
    (27, {'bcc'}, {'bcc': 1.0})
    """

    _parameter_constraints = {
        "model": "no_validation",
        "box": [None, Interval(Real, 0, None, closed="neither")],
        "stride": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [None, Integral],
        "device": [None, str],
        "verbose": ["verbose"],
    }

    def __init__(self, model=None, *, box=None, stride=4.0, n_jobs=None, device=None, verbose=0):
        self.model = model
        self.box = box
        self.stride = stride
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Check the parameters; the model is already trained.

        Parameters
        ----------
        X : object, default=None
            Ignored.
        y : object, default=None
            Ignored.

        Returns
        -------
        self : LocalClassifier
            This estimator.

        Examples
        --------
        >>> LocalClassifier(stride=8.0).fit()
        LocalClassifier(stride=8.0)
        """
        self._validate_params()
        return self

    def predict(self, X):
        """Per-atom labels of each sample (a list of arrays) or of one sample (an array).

        In a list, a sample that cannot be classified (wrong type, no atoms, positions that
        are not finite, partial periodicity) gets ``None`` and a warning naming it; the other
        samples are still classified.

        Parameters
        ----------
        X : sample or list of samples
            A sample (pymatgen Structure or Molecule, or ase.Atoms), or a list of them.

        Returns
        -------
        labels : ndarray of shape (n_atoms,), or list of such arrays
            ``LocalLabels.atom_labels`` of the sample, or of each sample of the list (``None``
            for one that could not be classified).

        Examples
        --------
        >>> from ase.build import bulk
        >>> labels = LocalClassifier(stride=20.0).predict(bulk("Cu", cubic=True) * 3)
        >>> labels.shape, set(labels.tolist())
        ((108,), {'fcc'})
        """
        if _is_sample(X):
            return self.classify(X).atom_labels
        labels = []
        for index, sample in enumerate(X):
            try:
                labels.append(self.classify(sample).atom_labels)
            except (TypeError, ValueError) as error:
                warnings.warn(
                    f"sample {index} ({type(sample).__name__}) was not classified: {error}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                labels.append(None)
        return labels

    def classify(self, sample):
        """Classify the regions and atoms of one sample.

        Parameters
        ----------
        sample : pymatgen Structure or Molecule, or ase.Atoms
            A periodic box (all three directions periodic) or a point cloud (none).

        Returns
        -------
        result : LocalLabels
            The labels, probabilities and novelty scores of the regions, and the labels of
            the atoms.

        Examples
        --------
        >>> from ase.build import bulk
        >>> result = LocalClassifier(stride=20.0).classify(bulk("Cu", cubic=True) * 3)
        >>> result.labels.tolist(), result.atom_labels.shape, set(result.atom_labels.tolist())
        (['fcc'], (108,), {'fcc'})
        """
        import torch
        from joblib import Parallel, delayed
        from tqdm.auto import tqdm

        from ._fingerprinter import worker_count

        self._validate_params()
        fingerprint, classifier = self._model()
        positions, numbers, cell = _read_sample(sample, fingerprint.atomic_number_shift)
        neighbourhoods = _Neighbourhoods(positions, cell)
        radius = self.box / 2 if self.box is not None else REGION_REACH * neighbourhoods.spacing()
        neighbourhoods.reach(radius)
        centres = _grid(positions, cell, self.stride)
        if cell is None:
            counts = neighbourhoods.tree.query_ball_point(centres, radius, return_length=True)
            centres = centres[counts >= MIN_REGION_FILL * np.median(counts)]
        n_classes = len(classifier.classes_)
        vote = _Vote(len(positions), n_classes)
        region = {
            "labels": np.empty(len(centres), dtype=object),
            "nearest": np.empty(len(centres), dtype=object),
            "proba": np.full((len(centres), n_classes), np.nan, dtype=np.float32),
            "scores": np.full(len(centres), np.nan),
            "cluster_sizes": np.zeros(len(centres), dtype=int),
            "on_lattice": np.zeros(len(centres)),
        }
        errors = {}
        unknown_label = classifier.unknown_label
        bar = tqdm(total=len(centres), unit="region", disable=not self.verbose)

        def _regions():
            for start in range(0, len(centres), CHUNK_REGIONS):
                yield from neighbourhoods.around(centres[start : start + CHUNK_REGIONS], radius)

        workers = worker_count(self.n_jobs, len(centres)) > 1
        with (
            _torch_threads() as threads,
            Parallel(n_jobs=self.n_jobs if workers else 1, return_as="generator") as parallel,
        ):
            # A generator: the workers carve the next regions while this process renders and
            # classifies the last ones.
            results = parallel(
                delayed(_region_task)(
                    relative, members, numbers[members], fingerprint.target_n_atoms
                )
                for relative, members in _regions()
            )
            for start in range(0, len(centres), CHUNK_REGIONS):
                chunk = list(itertools.islice(results, CHUNK_REGIONS))
                good = [k for k, result in enumerate(chunk) if not isinstance(result, Exception)]
                for k, result in enumerate(chunk):
                    if isinstance(result, Exception):
                        errors[start + k] = f"{type(result).__name__}: {result}"
                        region["labels"][start + k] = unknown_label
                for k in good:
                    _, members, on_lattice, _ = chunk[k]
                    region["cluster_sizes"][start + k], region["on_lattice"][start + k] = (
                        len(members),
                        on_lattice,
                    )
                # A region that is not one crystal is unknown whatever the network says: it
                # is not rendered (most regions of a fine-grained polycrystal).
                astride = (
                    [k for k in good if chunk[k][2] < MIN_ON_LATTICE]
                    if unknown_label is not None
                    else []
                )
                for k in astride:
                    region["labels"][start + k] = unknown_label
                    vote.add(chunk[k][1], None, True, chunk[k][3])
                crystals = sorted(set(good) - set(astride))
                if workers:
                    # The workers carve on the other cores. Where few regions are rendered,
                    # a main process rendering with several threads only competes with them;
                    # where most are, it is the bottleneck (measured on two cores: 56 against
                    # 51 regions/s for a polycrystal with half its regions rendered, 51
                    # against 38 for precipitates in a matrix, nearly all rendered).
                    busy = len(crystals) >= MAIN_THREADS_SHARE * len(chunk)
                    torch.set_num_threads(threads if busy else 1)
                if crystals:
                    images = fingerprint.render([chunk[k][0] for k in crystals])
                    proba, scores, labels, nearest = _classified(classifier, images)
                    rows = start + np.array(crystals)
                    region["proba"][rows], region["scores"][rows] = proba, scores
                    region["labels"][rows], region["nearest"][rows] = labels, nearest
                    for k, p, label in zip(crystals, proba, labels):
                        vote.add(
                            chunk[k][1],
                            p,
                            unknown_label is not None and label == unknown_label,
                            chunk[k][3],
                        )
                bar.update(len(chunk))
        bar.close()
        if errors:
            warnings.warn(
                f"{len(errors)} of {len(centres)} regions could not be fingerprinted and are "
                f"labelled {unknown_label!r}; LocalLabels.errors says why.",
                RuntimeWarning,
                stacklevel=2,
            )
        atom_labels, atom_proba, held = vote.result(classifier.classes_, unknown_label)
        # A stride wider than the clusters leaves atoms that no cluster holds: they take the
        # answer of the nearest region.
        alone = np.flatnonzero(vote.count == 0)
        if len(alone) and len(centres):
            _, nearest = _nearest_centre(positions[alone], centres, cell)
            atom_labels[alone] = held[alone] = region["labels"][nearest]
            atom_proba[alone] = region["proba"][nearest]
        return LocalLabels(
            centres=centres,
            classes=classifier.classes_,
            atom_labels=atom_labels,
            atom_filled_labels=_filled_labels(
                held, positions, centres, region["labels"], cell, radius, unknown_label
            ),
            atom_proba=atom_proba,
            atom_coverage=vote.count,
            unknown_label=unknown_label,
            errors=errors,
            **region,
        )

    def _model(self):
        model = _shipped(self.device or "cpu") if self.model is None else self.model
        steps = getattr(model, "named_steps", {})
        if "fingerprint" not in steps or "classifier" not in steps:
            raise TypeError(
                "model must be a pipeline with steps 'fingerprint' and 'classifier' (as load_pretrained returns)."
            )
        return steps["fingerprint"], steps["classifier"]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


@contextlib.contextmanager
def _torch_threads():
    """Torch's intra-op thread count, given to the block and restored after it."""
    import torch

    before = torch.get_num_threads()
    try:
        yield before
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=2)
def _shipped(device):
    """The shipped model, loaded once per process and device (every frame of a trajectory
    would otherwise load it again)."""
    from .pretrained import load_pretrained

    return load_pretrained(device=device)


def _classified(classifier, images):
    """Probabilities, novelty scores, labels (with the reject option) and nearest classes."""
    from scipy.special import softmax

    features, logits = classifier._scored(images)
    proba = softmax(logits, axis=1).astype(np.float32)
    scores = classifier.novelty_.score(features, logits)
    nearest = classifier.classes_[proba.argmax(axis=1)].astype(object)
    labels = nearest.copy()
    if classifier.unknown_label is not None:
        labels[scores < classifier.offset_] = classifier.unknown_label
    return proba, scores, labels, nearest


def _region_task(relative, members, numbers, n_atoms):
    """One region's cluster, the indices of its atoms in the sample, the share of them on the
    region's lattice and their vote weights; or the error (runs in a joblib worker)."""
    from ._region import region_cluster

    try:
        cluster, inside, on_lattice = region_cluster(relative, numbers, n_atoms)
    except Exception as error:  # noqa: BLE001 -- reported per region, the others go on
        return error
    return cluster, members[inside], on_lattice, _vote_weights(relative[inside])


class _Vote:
    """Per-atom weighted sums of the votes of the regions whose clusters hold the atom."""

    def __init__(self, n_atoms, n_classes):
        self.count = np.zeros(n_atoms, dtype=np.int32)
        self.weight = np.zeros(n_atoms)
        self.unknown = np.zeros(n_atoms)
        self.proba_weight = np.zeros(n_atoms)
        self.proba = np.zeros((n_atoms, n_classes))
        self.accepted = np.zeros((n_atoms, n_classes))

    def add(self, members, proba, rejected, weights):
        """One region's vote; ``proba`` is ``None`` for a region the network did not see."""
        self.count[members] += 1
        self.weight[members] += weights
        if proba is not None:
            self.proba_weight[members] += weights
            self.proba[members] += weights[:, None] * proba
        if rejected:
            self.unknown[members] += weights
        else:
            self.accepted[members] += weights[:, None] * proba

    def result(self, classes, unknown_label):
        seen = self.proba_weight > 0
        mean = np.full(self.proba.shape, np.nan, dtype=np.float32)
        mean[seen] = self.proba[seen] / self.proba_weight[seen, None]
        labels = classes[self.accepted.argmax(axis=1)].astype(object)
        # Without the reject option no region is unknown: only atoms no region holds are.
        filled = labels.copy()
        labels[(self.count == 0) | (2 * self.unknown > self.weight)] = unknown_label
        filled[self.weight - self.unknown <= 0] = unknown_label
        return labels, mean, filled


def _filled_labels(held, positions, centres, region_labels, cell, radius, unknown_label):
    """Per-atom classes from the regions that got one: ``held`` (the vote of those whose
    clusters hold the atom), and for an atom none holds, the class of the nearest such region
    within ``radius``."""
    filled = held.copy()
    if unknown_label is None:
        return filled
    accepted = np.flatnonzero([label != unknown_label for label in region_labels.tolist()])
    unknown = np.flatnonzero([label == unknown_label for label in held.tolist()])
    if len(accepted) and len(unknown):
        distances, nearest = _nearest_centre(positions[unknown], centres[accepted], cell)
        near = distances <= radius
        filled[unknown[near]] = region_labels[accepted[nearest[near]]]
    return filled


def _vote_weights(relative):
    """Weights of a cluster's atoms (positions relative to anything): a Gaussian of the
    distance from the cluster's centre, of width :data:`VOTE_WIDTH` times its radius."""
    distances = np.linalg.norm(relative - relative.mean(axis=0), axis=1)
    width = VOTE_WIDTH * max(distances.max(), 1e-12)
    return np.exp(-0.5 * (distances / width) ** 2)


class _Neighbourhoods:
    """The atoms within a radius of points, with periodic images for a periodic box."""

    def __init__(self, positions, cell):
        from scipy.spatial import cKDTree

        self.positions, self.cell = positions, cell
        self.images, self.owners = positions, np.arange(len(positions))
        self.tree = cKDTree(positions)

    def reach(self, radius):
        """Add the periodic images within ``radius`` of the box."""
        if self.cell is None:
            return
        inverse = np.linalg.inv(self.cell)
        frac = self.positions @ inverse
        frac -= np.floor(frac)
        margin = radius * np.linalg.norm(inverse, axis=0)  # radius over each plane spacing
        ranges = [np.arange(-int(np.ceil(m)), int(np.ceil(m)) + 1) for m in margin]
        shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
        images, owners = [], []
        for shift in shifts:
            shifted = frac + shift
            keep = np.all((shifted >= -margin) & (shifted < 1 + margin), axis=1)
            images.append(shifted[keep] @ self.cell)
            owners.append(np.flatnonzero(keep))
        self.images, self.owners = np.concatenate(images), np.concatenate(owners)
        from scipy.spatial import cKDTree

        self.tree = cKDTree(self.images)

    def spacing(self):
        """Median nearest-neighbour distance of (a fixed subset of) the atoms."""
        step = max(1, len(self.positions) // SPACING_ATOMS)
        distances, _ = self.tree.query(self.positions[::step], k=2)
        return float(np.median(distances[:, 1]))

    def around(self, centres, radius):
        """``(positions relative to the centre, atom indices)`` for each centre."""
        return [
            (self.images[found] - centre, self.owners[found])
            for centre, found in zip(
                centres,
                (np.sort(f) for f in map(np.asarray, self.tree.query_ball_point(centres, radius))),
            )
        ]


def _nearest_centre(points, centres, cell):
    """Distance to the nearest centre from each point, and its index (periodic images of the
    centres if ``cell``)."""
    from scipy.spatial import cKDTree

    if cell is None:
        return cKDTree(centres).query(points)
    shifts = np.stack(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij"), axis=-1).reshape(-1, 3) @ cell
    images = (centres[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    distances, found = cKDTree(images).query(points)
    return distances, found % len(centres)


def _grid(positions, cell, stride):
    """Region centres: a grid of spacing about ``stride`` over the box or the bounding box."""
    if cell is not None:
        counts = np.maximum(1, np.round(np.linalg.norm(cell, axis=1) / stride)).astype(int)
        axes = [(np.arange(n) + 0.5) / n for n in counts]
        frac = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        return frac @ cell
    low, high = positions.min(axis=0), positions.max(axis=0)
    counts = np.maximum(1, np.ceil((high - low) / stride)).astype(int)
    axes = [low[i] + (np.arange(n) + 0.5) * (high[i] - low[i]) / n for i, n in enumerate(counts)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _is_sample(obj):
    return hasattr(obj, "cart_coords") or hasattr(obj, "get_positions")


def _as_atoms(sample):
    if hasattr(sample, "get_positions"):
        return sample.copy()
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_atoms(sample)


def _read_sample(sample, shift):
    """Positions, atomic numbers and cell (``None`` for a point cloud) of one sample."""
    if hasattr(sample, "get_positions"):
        positions, numbers = sample.get_positions(), sample.get_atomic_numbers()
        pbc = np.asarray(sample.pbc, dtype=bool)
        if pbc.any() and not pbc.all():
            raise ValueError(
                f"the sample is periodic along {pbc.tolist()} only; LocalClassifier takes a periodic box "
                "(pbc all True) or a point cloud (pbc all False)."
            )
        cell = np.array(sample.cell) if pbc.all() else None
    elif hasattr(sample, "cart_coords"):
        if not sample.is_ordered:
            raise ValueError("the sample has partially occupied sites; give one atom per site.")
        positions, numbers = sample.cart_coords, np.array(sample.atomic_numbers)
        cell = sample.lattice.matrix if hasattr(sample, "lattice") else None
    else:
        raise TypeError(
            f"a sample is a pymatgen Structure or Molecule, or an ase.Atoms; got {type(sample).__name__}. "
            "Read files with skcrystal.read_frames."
        )
    positions = np.asarray(positions, dtype=float)
    if len(positions) == 0 or not np.isfinite(positions).all():
        raise ValueError("the sample has no atoms, or positions that are not finite.")
    if cell is not None and not abs(np.linalg.det(cell)) > 0:
        raise ValueError(
            "the sample's cell has no volume; give a periodic box or a point cloud (pbc False)."
        )
    missing = _diffraction.missing_form_factors(numbers, shift)
    if missing:
        raise ValueError(
            f"no X-ray form factor for atomic number(s) {missing}; tabulated atomic numbers are 1 to 98."
        )
    return positions, np.asarray(numbers), cell
