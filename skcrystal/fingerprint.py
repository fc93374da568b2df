"""The two-dimensional diffraction fingerprint as a scikit-learn transformer."""

from __future__ import annotations

import contextlib
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

from ._cluster import Cluster  # noqa: F401 -- public here: clusters() returns it, render() takes it
from ._fingerprinter import Fingerprinter, _as_structure_error, raise_error
from .io import check_sequence

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
        Processes that read the structures and build their canonical clusters (joblib
        semantics: ``None`` is one, ``-1`` all cores); a single structure is read here,
        without starting any. On a CPU they render the images too, up to ``batch_size``
        crystals at a time, each on one thread.
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
        fingerprinter = self.fingerprinter()
        items = check_sequence(X)
        good, errors = [], []
        with contextlib.closing(fingerprinter.images_or_errors(items)) as results:
            for index, (item, result) in enumerate(zip(items, results)):
                if isinstance(result, BaseException):
                    if self.on_error == "raise":
                        raise_error(result)
                    errors.append(_as_structure_error(result, index, item))
                else:
                    good.append((index, result))
        n = self.n_pixels
        images = np.empty((0, 3, n, n), dtype=np.float32)
        if good:
            images = np.stack([image for _, image in good])
        if self.on_error == "nan":
            full = np.full((len(items), 3, n, n), np.nan, dtype=np.float32)
            full[[index for index, _ in good]] = images
            images = full
        return images, errors

    def fingerprinter(self):
        """The computation of this transformer, for its parameters as they are now.

        Its parameters are not checked here (:meth:`fit` and :meth:`transform` check them).

        Returns
        -------
        skcrystal._fingerprinter.Fingerprinter
            A frozen record of the parameters (all but ``on_error``), with the methods that
            read, canonicalise and render without scikit-learn.

        Examples
        --------
        >>> DiffractionFingerprint(n_pixels=32).fingerprinter().n_pixels
        32
        """
        params = self.get_params()
        del params["on_error"]
        return Fingerprinter(**params)

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
        return self.fingerprinter().clusters(check_sequence(X))

    def clusters_or_errors(self, X):
        """Like :meth:`clusters`, but a bad item gives its error instead of raising it.

        Every item is read and canonicalised (in ``n_jobs`` processes; a single item here),
        so one broken file does not cost the others.

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
        return self.fingerprinter().clusters_or_errors(check_sequence(X))

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
        return self.fingerprinter().render(clusters)

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
        return self.fingerprinter().patterns(clusters)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = False
        return tags
