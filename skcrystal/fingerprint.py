"""The two-dimensional diffraction fingerprint as a scikit-learn transformer."""

from __future__ import annotations

import contextlib
import functools
import traceback
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

from . import _cluster, _diffraction
from ._cluster import Cluster  # noqa: F401 -- public here: clusters() returns it, render() takes it
from ._transport import _portable
from .io import StructureError, check_sequence, to_crystal

#: Cells more skewed than this (product of the lattice vectors' lengths over the cell volume;
#: 1 for a rectangular cell, 1.15 for a hexagonal one) are replaced by their LLL-reduced cell
#: before the canonical-cell search (see ``_compact_cell``). Ordinary cells are passed as given.
REDUCE_SKEW = 50.0
#: The warning of ``on_error="nan"`` / ``"skip"`` spells out at most this many errors (all
#: of them are returned by ``transform_with_errors``).
MAX_ERRORS_SHOWN = 10


class DiffractionFingerprint(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    r"""Two-dimensional diffraction fingerprint of crystal structures.

    Each structure is mapped to a canonical cluster of about ``target_n_atoms`` atoms (same
    result for any cell choice, supercell, rotation, translation or atom order; see
    :mod:`skcrystal._cluster`), scaled so that the nearest-neighbour distance of its parent
    crystal (averaged over displacements) is 1 Angstrom. The cluster is turned by
    ``+rotation_angle`` and ``-rotation_angle`` about x, y and z; channel ``a`` of the image
    is the sum of the two simulated diffraction patterns (beam along +z, exact Ewald sphere)
    of the cluster turned about axis ``a``:

    .. math::

        I_{ij} = \Omega_{ij} \Big| \sum_k f_{Z_k + \Delta Z}(|H_{ij}|)
                 \, e^{-2\pi i H_{ij} \cdot r_k} \Big|^2

    with ``H`` the scattering vector of pixel ``(i, j)``, ``Omega`` its solid angle and ``f``
    X-ray form factors (see :mod:`skcrystal._diffraction`). Pixels within
    ``beam_stop_radius`` of the centre are zeroed, then the three-channel image is min-max
    scaled to [0, 1]. The transformer is stateless: ``fit`` only validates the parameters, and
    ``transform`` changes nothing on the estimator, so a fitted pipeline can be shared.

    Parameters
    ----------
    wavelength : float, default=5.0e-12
        Wavelength of the radiation, metres.
    detector_distance : float, default=0.1
        Distance from the sample to the detector, metres.
    pixel_size : float, default=4.0e-4
        Side of a square detector pixel, metres.
    n_pixels : int, default=64
        Pixels along each side of the detector.
    rotation_angle : float, default=45.0
        Angle of the two rotations about each axis, degrees.
    beam_stop_radius : float, default=5.0
        Pixels whose centre lies within this many pixels of the detector centre are zeroed.
    target_n_atoms : int, default=256
        Size of the cluster. The outermost coordination shell is completed or dropped,
        whichever lands nearer, so a pristine cluster keeps its symmetry.
    atomic_number_shift : int, default=2
        The form factor of atomic number ``Z + atomic_number_shift`` is used for an atom of
        atomic number ``Z`` (the paper's choice); at most that of 98 (californium, the
        heaviest tabulated).
    device : str, default="cpu"
        Torch device of the kernel, e.g. ``"cpu"`` or ``"cuda"``.
    batch_size : int, default=32
        Crystals per kernel call; bounds memory (about 100 MB per 32 crystals on CPU).
    n_jobs : int, default=None
        Processes that build the canonical clusters (joblib semantics: ``None`` is one,
        ``-1`` all cores).
    compile : {"auto", True, False}, default="auto"
        ``True`` compiles the CPU kernel with ``torch.compile`` (needs a C++ compiler; falls
        back to the eager kernel with a warning if compilation fails) for clusters of one
        species and one region, once per cluster size (atoms padded to 64), for at most
        ``_diffraction.MAX_COMPILED_SHAPES`` sizes per process; other clusters take the
        eager kernel. ``"auto"`` and ``False`` use the eager kernel: on this project's
        2-core CPU it is faster than the compiled one (4.4 against 5.6 ms per pristine
        256-atom crystal, 9.3 against 10.0 ms per hot one), and compiling costs seconds per
        process. Results agree to float32 precision either way.
    on_error : {"raise", "nan", "skip"}, default="raise"
        What ``transform`` does with an item of ``X`` that cannot be fingerprinted (unreadable
        file, no periodic cell, overlapping atoms, element without a form factor, ...; see
        :mod:`skcrystal.io`). ``"raise"`` raises the
        :class:`~skcrystal.io.StructureError` of the first bad item. ``"nan"`` keeps the
        output's shape ``(n, 3, n_pixels, n_pixels)`` and fills the rows of bad items with NaN;
        ``"skip"`` drops their rows. Both issue one ``RuntimeWarning`` that lists the bad
        items' indices and reasons; :meth:`transform_with_errors` returns the images and the
        errors themselves, without the warning. The rows of good
        items are those of a clean run without the bad items. An unexpected exception raised
        by an item (a bug rather than bad input) propagates unchanged with ``"raise"``; with
        ``"nan"`` and ``"skip"`` it is wrapped in a :class:`~skcrystal.io.StructureError` that
        names the item and the original exception.

        In a :class:`~sklearn.pipeline.Pipeline` with labels, use ``"raise"`` or ``"nan"``:
        ``"skip"`` changes the number of rows, which then no longer match ``y``.
        :class:`~skcrystal.CrystalClassifier` refuses NaN images, so with ``"nan"`` classify
        the finite rows yourself::

            images = fingerprint.transform(X)
            ok = ~np.isnan(images).any(axis=(1, 2, 3))
            labels = classifier.predict(images[ok])

    See Also
    --------
    skcrystal.io.to_structures : How the items of ``X`` are read and checked.

    Notes
    -----
    The defaults are those of Ziletti et al., Nature Communications 9, 2775 (2018).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> from skcrystal import DiffractionFingerprint
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> images = DiffractionFingerprint().transform([fe])
    >>> images.shape, images.dtype, float(images.min()), float(images.max())
    ((1, 3, 64, 64), dtype('float32'), 0.0, 1.0)

    A bad item gives a row of NaN with ``on_error="nan"``; ``transform_with_errors`` also
    returns its error:

    >>> fp = DiffractionFingerprint(n_pixels=16, target_n_atoms=32, on_error="nan")
    >>> images, errors = fp.transform_with_errors([fe, "missing.cif"])
    >>> images.shape, np.isnan(images).any(axis=(1, 2, 3)).tolist()
    ((2, 3, 16, 16), [False, True])
    >>> [str(error) for error in errors]
    ["X[1] ('missing.cif'): no such file"]
    """

    _parameter_constraints = {
        "wavelength": [Interval(Real, 0, None, closed="neither")],
        "detector_distance": [Interval(Real, 0, None, closed="neither")],
        "pixel_size": [Interval(Real, 0, None, closed="neither")],
        "n_pixels": [Interval(Integral, 2, None, closed="left")],
        "rotation_angle": [Interval(Real, None, None, closed="neither")],
        "beam_stop_radius": [Interval(Real, 0, None, closed="left")],
        "target_n_atoms": [Interval(Integral, 2, None, closed="left")],
        "atomic_number_shift": [Interval(Integral, None, None, closed="neither")],
        "device": "no_validation",  # checked by _validate_device (torch knows the devices)
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        # joblib: 1, 2, ... processes; -1 all cores, -2 all but one, ...; 0 means nothing.
        "n_jobs": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
            None,
        ],
        "compile": ["boolean", StrOptions({"auto"})],
        "on_error": [StrOptions({"raise", "nan", "skip"})],
    }

    def __init__(
        self,
        *,
        wavelength=5.0e-12,
        detector_distance=0.1,
        pixel_size=4.0e-4,
        n_pixels=64,
        rotation_angle=45.0,
        beam_stop_radius=5.0,
        target_n_atoms=256,
        atomic_number_shift=2,
        device="cpu",
        batch_size=32,
        n_jobs=None,
        compile="auto",
        on_error="raise",
    ):
        self.wavelength = wavelength
        self.detector_distance = detector_distance
        self.pixel_size = pixel_size
        self.n_pixels = n_pixels
        self.rotation_angle = rotation_angle
        self.beam_stop_radius = beam_stop_radius
        self.target_n_atoms = target_n_atoms
        self.atomic_number_shift = atomic_number_shift
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.compile = compile
        self.on_error = on_error

    def fit(self, X=None, y=None):
        """Validate the parameters; the transformer learns nothing.

        Parameters
        ----------
        X : object, default=None
            Ignored (the transformer is stateless).
        y : object, default=None
            Ignored.

        Returns
        -------
        self : DiffractionFingerprint
            This transformer, its parameters checked.

        Examples
        --------
        >>> DiffractionFingerprint(n_pixels=32).fit()
        DiffractionFingerprint(n_pixels=32)
        """
        self._check_params()
        return self

    def _check_params(self):
        """sklearn's checks of single parameters, then the device and the beam stop.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A ``ValueError`` (and ``TypeError``) naming the parameter.
        """
        self._validate_params()
        self._validate_device()
        # The farthest pixel centre lies sqrt(2) (n - 1) / 2 pixels from the detector centre.
        if self.beam_stop_radius >= np.sqrt(2) * (self.n_pixels - 1) / 2:
            raise InvalidParameterError(
                f"The 'beam_stop_radius' parameter of {type(self).__name__} must be smaller than "
                f"the detector's half diagonal ({np.sqrt(2) * (self.n_pixels - 1) / 2:.4g} pixels for "
                f"n_pixels={self.n_pixels}); got {self.beam_stop_radius!r}, which blanks every pixel."
            )

    def _validate_device(self):
        device = self.device
        if type(device).__name__ == "device" and type(device).__module__ == "torch":
            return
        if isinstance(device, str) and device in {"cpu", "cuda"}:
            return
        problem = None
        if not isinstance(device, str):
            problem = f"Got {device!r} of type {type(device).__name__} instead."
        else:
            import torch

            try:
                torch.device(device)
            except RuntimeError as error:
                problem = f"Got {device!r} instead ({str(error).strip().splitlines()[0]})."
        if problem:
            raise InvalidParameterError(
                f"The 'device' parameter of {type(self).__name__} must be a torch device name "
                f"such as 'cpu', 'cuda' or 'cuda:1', or a torch.device. {problem}"
            )

    def transform(self, X):
        """Fingerprint each structure of ``X``.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            The crystals.

        Returns
        -------
        ndarray of shape (n_structures, 3, n_pixels, n_pixels), float32
            Values in [0, 1].

            With ``on_error="skip"``, only the rows of the good items; with ``"nan"``, the rows of
            bad items are NaN.

        Raises
        ------
        skcrystal.io.StructureError
            With ``on_error="raise"``: names the first item of ``X`` that cannot be used, and why.
        TypeError, ValueError
            If ``X`` itself is not a non-empty sequence of items (whatever ``on_error``).
        sklearn.utils._param_validation.InvalidParameterError
            For a parameter out of range or of the wrong type.

        Warns
        -----
        RuntimeWarning
            With ``on_error="nan"`` or ``"skip"``, once, if some items are bad.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> fp = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4, compile=False)
        >>> images = fp.transform([iron])
        >>> images.shape, images.dtype, float(images.max())
        ((1, 3, 32, 32), dtype('float32'), 1.0)
        """
        images, errors = self.transform_with_errors(X)
        if errors:
            warnings.warn(
                self._error_summary(errors, len(check_sequence(X))), RuntimeWarning, stacklevel=2
            )
        return images

    def transform_with_errors(self, X):
        """:meth:`transform`, and the errors of the bad items instead of a warning.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            The crystals, as for :meth:`transform`.

        Returns
        -------
        images : ndarray
            As :meth:`transform` returns them.
        errors : list of skcrystal.io.StructureError
            The error of each bad item, in order (each with ``.index``, ``.item`` and
            ``.reason``); empty if every item was good, and always with ``on_error="raise"``,
            which raises the first one.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> fp = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4, compile=False)
        >>> _ = fp.set_params(on_error="skip")
        >>> images, errors = fp.transform_with_errors([iron, "no_such_file.cif"])
        >>> images.shape, [error.index for error in errors]
        ((1, 3, 32, 32), [1])
        """
        self._check_params()
        if self.on_error == "raise":
            return self.render(self.clusters(X)), []
        items = check_sequence(X)
        good, errors = [], []
        for index, (item, result) in enumerate(zip(items, self._clusters_or_errors(items))):
            if isinstance(result, BaseException):
                errors.append(_as_structure_error(result, index, item))
            else:
                good.append((index, result))
        n = self.n_pixels
        images = np.empty((0, 3, n, n), dtype=np.float32)
        if good:
            images = self.render([cluster for _, cluster in good])
        if self.on_error == "nan":
            full = np.full((len(items), 3, n, n), np.nan, dtype=np.float32)
            full[[index for index, _ in good]] = images
            images = full
        return images, errors

    def _error_summary(self, errors, n_items):
        fate = "are all NaN" if self.on_error == "nan" else "were dropped"
        indices = [error.index for error in errors]
        lines = [
            (
                f"{len(errors)} of {n_items} items of X could not be fingerprinted; their rows {fate} "
                f"(on_error={self.on_error!r}). Indices: {indices}. transform_with_errors(X) returns their errors:"
            )
        ]
        lines += [f"  {error}" for error in errors[:MAX_ERRORS_SHOWN]]
        if len(errors) > MAX_ERRORS_SHOWN:
            lines.append(f"  ... and {len(errors) - MAX_ERRORS_SHOWN} more")
        return "\n".join(lines)

    def clusters(self, X):
        """Canonical clusters of the structures of ``X`` (the step before the kernel).

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            The crystals, as for :meth:`transform`.

        Returns
        -------
        list of Cluster
            One :class:`Cluster` per item of ``X``, in order: what :meth:`render` draws.

        Raises
        ------
        skcrystal.io.StructureError
            Names the first item of ``X`` that cannot be used, and why.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> fp = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4, compile=False)
        >>> [cluster] = fp.clusters([iron])
        >>> len(cluster.numbers), round(cluster.scale, 4)  # atoms; Fe-Fe distance in Angstrom
        (259, 2.4855)
        """
        clusters = []
        with contextlib.closing(self._clusters_or_errors(check_sequence(X))) as results:
            for result in results:
                worker_traceback = getattr(result, "_worker_traceback", None)
                if worker_traceback is not None:
                    raise result from worker_traceback
                if isinstance(result, BaseException):
                    raise result
                clusters.append(result)
        return clusters

    def clusters_or_errors(self, X):
        """Like :meth:`clusters`, but a bad item gives its error instead of raising it.

        Every item is read and canonicalised (in ``n_jobs`` processes), so one broken file
        does not cost the others.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            The crystals, as for :meth:`transform`.

        Returns
        -------
        generator
            For each item of ``X``, in order, its :class:`Cluster` or the
            exception it raised (a :class:`~skcrystal.io.StructureError` for bad input).

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> fp = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4, compile=False)
        >>> [type(result).__name__ for result in fp.clusters_or_errors([iron, "missing.cif"])]
        ['Cluster', 'StructureError']
        """
        return self._clusters_or_errors(check_sequence(X))

    def _clusters_or_errors(self, items):
        from joblib import Parallel, delayed

        n_atoms, shift = self.target_n_atoms, self.atomic_number_shift
        # A failure of an item before it is sent off stays here (it may not pickle).
        failures = {}

        def jobs():
            for index, item in enumerate(items):
                try:
                    # A pymatgen Structure travels to a worker as arrays.
                    payload = _portable(item)
                except Exception as failure:  # noqa: BLE001 -- reported with its item
                    failures[index] = failure
                    yield delayed(_nothing)()
                else:
                    yield delayed(_cluster_or_error)(payload, index, n_atoms, shift)

        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs())
        try:
            for index, item in enumerate(items):
                # The limit only while an item is computed (in this process, if serial): the
                # consumer may do anything between two items, e.g. run another generator.
                with _one_blas_thread():
                    result = next(results)
                result = failures.pop(index, result)
                if isinstance(result, StructureError):
                    # Named after the item of X, not after what travelled to the worker.
                    result = _as_structure_error(result, index, item)
                yield result
        finally:
            # Stopped early (an error raised, or the consumer gave up): cancel the rest.
            # joblib then warns that tasks went unused, which is the point here.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=UserWarning, message=".*tasks")
                results.close()

    def render(self, clusters):
        """Images of canonical clusters: the patterns summed per axis, masked and scaled.

        Parameters
        ----------
        clusters : list of Cluster
            As :meth:`clusters` returns them (or saved from an earlier call).

        Returns
        -------
        ndarray of shape (n_clusters, 3, n_pixels, n_pixels), float32
            Channel ``a`` sums the patterns of the cluster turned by ``+rotation_angle`` and
            ``-rotation_angle`` about axis ``a``; the beam stop is zero; each image is
            scaled to [0, 1].

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> fp = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4, compile=False)
        >>> clusters = fp.clusters([iron])
        >>> bool((fp.render(clusters) == fp.transform([iron])).all())
        True
        """
        n = self.n_pixels
        intensity = self.patterns(clusters)
        image = intensity.reshape(len(clusters), 3, 2, n, n).sum(axis=2)
        centre = (n - 1) / 2
        i, j = np.meshgrid(np.arange(n) - centre, np.arange(n) - centre, indexing="ij")
        image[:, :, np.hypot(i, j) <= self.beam_stop_radius] = 0.0
        low = image.min(axis=(1, 2, 3), keepdims=True)
        span = image.max(axis=(1, 2, 3), keepdims=True) - low
        return ((image - low) / np.where(span > 0, span, 1.0)).astype(np.float32)

    def patterns(self, clusters):
        """Diffraction patterns ``Omega |F|^2`` of canonical clusters, before any scaling.

        Parameters
        ----------
        clusters : list of Cluster
            As :meth:`clusters` returns them.

        Returns
        -------
        ndarray of shape (n_clusters, 6, n_pixels, n_pixels)
            One pattern per rotation, in the order of :func:`skcrystal._diffraction.rotations`.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> fp = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4, compile=False)
        >>> patterns = fp.patterns(fp.clusters([iron]))
        >>> patterns.shape  # (+x, -x, +y, -y, +z, -z) turns
        (1, 6, 32, 32)
        >>> bool((patterns[0, 5] == np.rot90(patterns[0, 4], k=-1)).all())  # -45 is +45 turned
        True
        """
        import torch

        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} was asked for, but torch sees no CUDA device."
            )
        h, solid_angle = _diffraction.detector(
            self.wavelength, self.detector_distance, self.pixel_size, self.n_pixels
        )
        pixels = h.reshape(-1, 3)
        rotations = _diffraction.rotations(self.rotation_angle)
        # Turned by -angle about the beam is turned by +angle, then by -2 angle: where that is
        # a quarter turn, the square detector maps onto itself and the last pattern is the
        # one before it, turned on the detector (a sixth of the work saved).
        quarter_turn = _diffraction.is_quarter_turn(2 * self.rotation_angle)
        if quarter_turn:
            rotations = rotations[:5]
        q = 2 * np.pi * np.concatenate([pixels @ rot for rot in rotations])
        q = torch.as_tensor(q, dtype=torch.float32, device=device)
        s = np.linalg.norm(pixels, axis=1) / 2
        out = np.empty((len(clusters), len(rotations), len(s)), dtype=np.float32)
        atoms = [_kernel_atoms(cluster) for cluster in clusters]
        for use_compiled, indices in self._kernel_groups(atoms, device):
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                batch = [(clusters[i], atoms[i]) for i in chunk]
                out[chunk] = self._batch_intensities(batch, q, s, device, use_compiled)
        n = self.n_pixels
        out = (out * solid_angle.reshape(1, 1, -1)).reshape(len(clusters), len(rotations), n, n)
        if quarter_turn:
            turned = np.rot90(out[:, 4], k=-round(2 * self.rotation_angle / 90), axes=(1, 2))
            out = np.concatenate([out, turned[:, None]], axis=1)
        return out

    def _kernel_groups(self, atoms, device):
        """``(compiled?, indices)`` of the clusters, grouped by the kernel that renders them.

        ``atoms`` holds the :func:`_kernel_atoms` of each cluster.

        The compiled kernel takes clusters of one species and one region (with several, its
        fused loop is slower than the eager kernel), one padded size per group so that each
        batch has one shape; the eager kernel takes the rest, in order.
        """
        shapes = {}
        if device.type == "cpu" and self.compile not in (False, "auto"):
            for index, (kinds, _, region, keep, _, _) in enumerate(atoms):
                if len(kinds) == 1 and not region.any():
                    size = _diffraction.pad_atoms(int(keep.sum()))
                    shapes.setdefault(size, []).append(index)
            shapes = {k: v for k, v in shapes.items() if _diffraction.reserve_compiled_shape(k)}
        compiled = {i for indices in shapes.values() for i in indices}
        eager = [i for i in range(len(atoms)) if i not in compiled]
        groups = [(True, np.array(indices)) for indices in shapes.values()]
        return groups + ([(False, np.array(eager))] if eager else [])

    def _batch_intensities(self, batch, q, s, device, use_compiled):
        """``|F|^2`` of each cluster at every (orientation, pixel): shape ``(b, r, n_pixels**2)``.

        ``batch`` holds ``(cluster, its _kernel_atoms)`` pairs.
        """
        import torch

        n_species = max(len(kinds) for _, (kinds, *_) in batch)
        n_regions = max(len(copies) for _, (*_, copies) in batch)
        n_atoms = max(int(keep.sum()) for _, (_, _, _, keep, _, _) in batch)
        if use_compiled:
            n_atoms = _diffraction.pad_atoms(n_atoms)
        # One column per (region, species): the atoms of a region add up coherently, the
        # regions incoherently.
        positions = np.zeros((len(batch), n_atoms, 3), dtype=np.float32)
        weights = np.zeros((len(batch), n_atoms, n_regions * n_species), dtype=np.float32)
        sine_weights = np.zeros_like(weights)
        factors = np.zeros((len(batch), n_species, len(s)), dtype=np.float32)
        counts = np.zeros((len(batch), n_regions), dtype=np.float32)
        for b, (cluster, (kinds, inverse, region, keep, paired, copies)) in enumerate(batch):
            counts[b, : len(copies)] = copies
            rows = np.arange(int(keep.sum()))
            columns = (region * n_species + inverse)[keep]
            positions[b, rows] = cluster.positions[keep]
            weights[b, rows, columns] = np.where(paired[keep], 2.0, 1.0)
            sine_weights[b, rows, columns] = np.where(paired[keep], 0.0, 1.0)
            factors[b, : len(kinds)] = _diffraction.form_factors(
                _diffraction.shifted(kinds, self.atomic_number_shift), s
            )
        positions = torch.as_tensor(positions, device=device)
        weights = torch.as_tensor(weights, device=device)
        sine_weights = torch.as_tensor(sine_weights, device=device)
        with torch.no_grad():
            if use_compiled:
                real, imag = self._compiled_sums(q, positions, weights, sine_weights)
            else:
                real, imag = _diffraction.phase_sums_eager(q, positions, weights, sine_weights)
        # (b, 6 * pixels, regions * species) -> weight each species by its form factor at the
        # pixel, square per region, sum the regions (each as often as it was copied).
        n_pix = len(s)
        shape = (len(batch), q.shape[0] // n_pix, n_pix, n_regions, n_species)
        real = real.cpu().numpy().reshape(shape)
        imag = imag.cpu().numpy().reshape(shape)
        f = factors.transpose(0, 2, 1)[:, None, :, None, :]
        intensity = (real * f).sum(-1) ** 2 + (imag * f).sum(-1) ** 2
        return (intensity * counts[:, None, None, :]).sum(-1)

    def _compiled_sums(self, q, positions, weights, sine_weights):
        import torch

        try:
            kernel = _diffraction.compiled_phase_sums()
            pairs = [kernel(q, *arrays) for arrays in zip(positions, weights, sine_weights)]
        except Exception as error:  # noqa: BLE001 -- any compiler failure: fall back
            warnings.warn(
                f"torch.compile of the fingerprint kernel failed ({type(error).__name__}: "
                f"{error}); using the eager kernel. Pass compile=False to skip the attempt.",
                RuntimeWarning,
                stacklevel=4,
            )
            return _diffraction.phase_sums_eager(q, positions, weights, sine_weights)
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = False
        return tags


def _kernel_atoms(cluster):
    """What the kernel needs of a cluster's atoms, worked out once per cluster.

    Returns ``(kinds, species, region, keep, paired, copies)``: the atomic numbers present,
    each atom's index into them and its region; the atoms that are summed, and those of them
    that stand for an inversion pair (:func:`skcrystal._diffraction.inversion_pairs`); and
    how many times each region's pattern counts. The regions of a pristine crystal are
    copies of one another: one of them is summed, counted once per copy.
    """
    kinds, species = np.unique(cluster.numbers, return_inverse=True)
    region = np.zeros(len(species), int) if cluster.regions is None else cluster.regions
    copies = np.ones(int(region.max()) + 1)
    summed = np.ones(len(species), bool)
    if cluster.regions is not None:
        for later, earlier in _copied_regions(cluster.positions, species, region).items():
            copies[earlier] += 1
            copies[later] = 0
            summed[region == later] = False
    keep, paired = _diffraction.inversion_pairs(cluster.positions, region * len(kinds) + species)
    return kinds, species, region, keep & summed, paired & summed, copies


def _copied_regions(positions, species, region):
    """``{region: the earlier region it copies}``: the same atoms, to a negligible distance."""
    copied, seen = {}, []
    for r in range(int(region.max()) + 1):
        atoms, kinds = positions[region == r], species[region == r]
        order = np.lexsort((*np.round(atoms, 6).T[::-1], kinds))
        atoms, kinds = atoms[order], kinds[order]
        for earlier, (other_atoms, other_kinds) in seen:
            if np.array_equal(kinds, other_kinds) and np.allclose(
                atoms, other_atoms, rtol=0, atol=_diffraction.SAME_POSITION
            ):
                copied[r] = earlier
                break
        else:
            seen.append((r, (atoms, kinds)))
    return copied


def _one_blas_thread():
    """Context in which numpy's BLAS runs on one thread, for the canonical clusters.

    Their matrix products are small, one thread does them as fast, and OpenBLAS threads left
    spinning after them slow down the torch kernel that follows: on 2 cores, 5.3 instead of
    3.2 ms per crystal (``benchmarks/bench_fingerprint.py``).
    """
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (finding them takes milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _as_structure_error(error, index, item):
    """``error`` as a :class:`StructureError` naming item ``index`` (wrapped if unexpected)."""
    if isinstance(error, StructureError):
        if error.index == index and error.item is item:
            return error
        wrapped = StructureError(error.reason, index=index, item=item)
        # The same error, named after the caller's item: keep its cause, not the copy.
        wrapped.__cause__ = error.__cause__
        wrapped.__suppress_context__ = True
        return wrapped
    text = str(error).strip()
    wrapped = StructureError(
        f"unexpected {type(error).__name__}" + (f": {text}" if text else ""), index=index, item=item
    )
    wrapped.__cause__ = error
    return wrapped


def _nothing():
    """The job of an item that failed before it was sent off."""


def _cluster_or_error(item, index, n_atoms, shift):
    try:
        return _one_cluster(item, index, n_atoms, shift)
    except Exception as error:  # noqa: BLE001 -- handed back to be reported with its item
        if not isinstance(error, StructureError):
            # A traceback does not survive the way back from a worker process; its text does.
            with contextlib.suppress(Exception):
                error._worker_traceback = _WorkerTraceback(traceback.format_exc())
        return error


class _WorkerTraceback(Exception):
    """The traceback of an unexpected error in a worker, shown as the cause of the error."""

    def __str__(self):
        return "\n" + self.args[0]


def _one_cluster(item, index, n_atoms, shift):
    """Read, check and canonicalise one item (runs in a joblib worker)."""
    crystal = to_crystal(item, index)
    numbers = crystal.numbers
    missing = _diffraction.missing_form_factors(numbers, shift)
    if missing:
        raise StructureError(
            f"no X-ray form factor for atomic number(s) {missing} + atomic_number_shift "
            f"({shift}); tabulated atomic numbers are 1 to 98",
            index=index,
            item=item,
        )
    cell, frac_coords = _compact_cell(crystal)
    return _cluster.canonical_cluster(cell, frac_coords, numbers, n_atoms)


def _compact_cell(crystal):
    """Lattice and fractional coordinates to hand to :mod:`skcrystal._cluster`.

    The input cell, unless it is skewed past :data:`REDUCE_SKEW`: then the crystal's
    LLL-reduced cell (same lattice, same Cartesian positions, atoms wrapped into it), whose
    skew is at most about 3. The canonical cluster does not depend on the cell, but the steps
    of :mod:`skcrystal._cluster` that work in the given cell (folding atoms, finding the atom
    nearest its middle) lose precision in cells as skewed as ``(a, b + 1000 a, c)``.
    """
    cell, frac_coords = crystal.cell, crystal.frac_coords
    skew = np.prod(np.linalg.norm(cell, axis=1)) / abs(np.linalg.det(cell))
    if skew <= REDUCE_SKEW:
        return cell, frac_coords
    reduced = crystal.reduced_cell
    frac = np.linalg.solve(reduced.T, (frac_coords @ cell).T).T
    return reduced, frac - np.floor(frac)
