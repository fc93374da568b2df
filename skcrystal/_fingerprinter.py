"""The diffraction fingerprint's computation, without scikit-learn.

:class:`~skcrystal.DiffractionFingerprint` validates its parameters and hands them to a
:class:`Fingerprinter`, which reads and canonicalises the items (in worker processes) and
renders the images. The command line predicts with it directly, so that classifying a file
does not import scikit-learn.
"""

from __future__ import annotations

import contextlib
import functools
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

from . import _cluster, _diffraction
from ._errors import StructureError
from ._inputs import to_crystal
from ._transport import _portable

#: Cells more skewed than this (product of the lattice vectors' lengths over the cell volume;
#: 1 for a rectangular cell, 1.15 for a hexagonal one) are replaced by their LLL-reduced cell
#: before the canonical-cell search (see ``_compact_cell``). Ordinary cells are passed as given.
REDUCE_SKEW = 50.0
#: About this many clusters are rendered together when this process renders them all
#: (rounded up to whole batches, so that the batches are those of a single
#: :meth:`Fingerprinter.render` call of every cluster).
RENDERED_TOGETHER = 256


@dataclass(frozen=True)
class Fingerprinter:
    """The fingerprint of :class:`~skcrystal.DiffractionFingerprint`, its parameters unchecked.

    The fields are the transformer's parameters of the same names (all but ``on_error``);
    they are taken as valid.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> from skcrystal import DiffractionFingerprint
    >>> iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> fp = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4)
    >>> images = fp.fingerprinter().render(fp.fingerprinter().clusters([iron]))
    >>> bool((images == fp.transform([iron])).all())
    True
    """

    wavelength: float
    detector_distance: float
    pixel_size: float
    n_pixels: int
    rotation_angle: float
    beam_stop_radius: float
    target_n_atoms: int
    atomic_number_shift: int
    device: object
    batch_size: int
    n_jobs: object
    compile: object

    def clusters(self, items):
        """The canonical cluster of each item; raises the error of the first bad one.

        Parameters
        ----------
        items : list
            Structures, ASE Atoms or paths (a checked sequence).

        Returns
        -------
        list of skcrystal._cluster.Cluster
        """
        clusters = []
        with contextlib.closing(self.clusters_or_errors(items)) as results:
            for result in results:
                if isinstance(result, BaseException):
                    raise_error(result)
                clusters.append(result)
        return clusters

    def clusters_or_errors(self, items):
        """For each item, in order, its canonical cluster or the exception it raised.

        Parameters
        ----------
        items : list
            Structures, ASE Atoms or paths (a checked sequence), read in ``n_jobs``
            processes (a single item here).

        Yields
        ------
        skcrystal._cluster.Cluster or Exception
            A bad item's error is a :class:`~skcrystal.io.StructureError` naming it.
        """
        return self._in_jobs(items, 1, render=False)

    def images_or_errors(self, items):
        """For each item, in order, its image or the exception it raised.

        With ``n_jobs`` processes on a CPU, each process reads, canonicalises and renders
        its share of the items: rendering in this process alone would leave the others
        waiting for it. Otherwise the clusters are rendered here, :data:`RENDERED_TOGETHER`
        at a time, in batches as :meth:`render` makes them.

        Parameters
        ----------
        items : list
            Structures, ASE Atoms or paths (a checked sequence).

        Yields
        ------
        ndarray of shape (3, n_pixels, n_pixels) or Exception
            A bad item's error is a :class:`~skcrystal.io.StructureError` naming it.
        """
        if self.renders_in_workers(len(items)):
            workers = worker_count(self.n_jobs, len(items))
            size = max(1, min(self.batch_size, -(-len(items) // workers)))
            yield from self._in_jobs(items, size, render=True)
            return
        # A device that cannot be used is the caller's error, not every item's.
        self._torch_device()
        together = self.batch_size * -(-RENDERED_TOGETHER // self.batch_size)
        pending, good = [], []
        with contextlib.closing(self.clusters_or_errors(items)) as results:
            for result in results:
                pending.append(result)
                if not isinstance(result, BaseException):
                    good.append(result)
                if len(good) == together:
                    yield from _in_place(pending, _images_or_errors(self, good))
                    pending, good = [], []
        yield from _in_place(pending, _images_or_errors(self, good))

    def _torch_device(self):
        """``device`` as a torch.device; a ValueError if it is a CUDA device torch cannot see."""
        import torch

        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} was asked for, but torch sees no CUDA device."
            )
        return device

    def renders_in_workers(self, n_items):
        """Whether :meth:`images_or_errors` renders ``n_items`` items in worker processes.

        Parameters
        ----------
        n_items : int
            Items to read.

        Returns
        -------
        bool
            ``True`` with several processes (:func:`worker_count`) on a CPU.
        """
        return worker_count(self.n_jobs, n_items) > 1 and _on_cpu(self.device)

    def _in_jobs(self, items, size, *, render):
        """Each item's cluster (its image if ``render``) or error, ``size`` items per job."""
        # A failure of an item before it is sent off stays here (it may not pickle).
        failures = {}

        def chunks():
            for start in range(0, len(items), size):
                chunk = []
                for index in range(start, min(start + size, len(items))):
                    try:
                        # A pymatgen Structure travels to a worker as arrays.
                        chunk.append((index, _portable(items[index])))
                    except Exception as failure:  # noqa: BLE001 -- reported with its item
                        failures[index] = failure
                yield chunk

        if worker_count(self.n_jobs, -(-len(items) // size)) == 1:
            # What joblib does with one job at a time, without importing it.
            results = (_job(self, chunk, render) for chunk in chunks())
        else:
            from joblib import Parallel, delayed

            # n_jobs as given: joblib keeps its worker processes from one call to the next
            # only while their number stays the same.
            results = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                delayed(_job)(self, chunk, render) for chunk in chunks()
            )
        try:
            for index, item in enumerate(items):
                if index % size == 0:
                    # The limit only while a job runs (in this process, if serial): the
                    # consumer may do anything between two items, e.g. run another generator.
                    with _one_blas_thread():
                        done = next(results)
                result = failures.pop(index, None) or done.pop(index)
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
        """Images of canonical clusters: :meth:`skcrystal.DiffractionFingerprint.render`."""
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
        """Patterns before any scaling: :meth:`skcrystal.DiffractionFingerprint.patterns`."""
        import torch

        device = self._torch_device()
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


def raise_error(error):
    """Raise an item's error, with the traceback of the worker that met it if unexpected."""
    worker_traceback = getattr(error, "_worker_traceback", None)
    if worker_traceback is not None:
        raise error from worker_traceback
    raise error


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


def _job(fingerprinter, chunk, render):
    """``{index: cluster, image or error}`` of the ``(index, item)`` pairs of one job."""
    n_atoms, shift = fingerprinter.target_n_atoms, fingerprinter.atomic_number_shift
    done = {index: _cluster_or_error(item, index, n_atoms, shift) for index, item in chunk}
    if render:
        good = [index for index, result in done.items() if not isinstance(result, BaseException)]
        done.update(zip(good, _images_or_errors(fingerprinter, [done[index] for index in good])))
    return done


def _images_or_errors(fingerprinter, clusters):
    """The image of each cluster, rendered together, or the error of rendering it alone."""
    if not clusters:
        return []
    try:
        return list(fingerprinter.render(clusters))
    except Exception:  # noqa: BLE001 -- each cluster alone, to pin the error on its item
        images = [_guarded(fingerprinter.render, [cluster]) for cluster in clusters]
        return [image if isinstance(image, BaseException) else image[0] for image in images]


def worker_count(n_jobs, n_items):
    """How many processes read ``n_items`` items: ``n_jobs``, no more than there are items.

    Parameters
    ----------
    n_jobs : int or None
        As in joblib.
    n_items : int
        Items to read (or jobs to run).

    Returns
    -------
    int
        1 (this process, no worker started) for a single item: a worker process imports
        numpy, pymatgen and torch, seconds that only several items repay.

    Examples
    --------
    >>> worker_count(-1, 1), worker_count(None, 10), worker_count(2, 10)
    (1, 1, 2)
    """
    if n_jobs == 1:
        # joblib's answer whatever its configuration, without importing it (0.1 s of the
        # cold start of one file).
        return 1
    from joblib import effective_n_jobs

    return max(1, min(effective_n_jobs(n_jobs), n_items))


def start_workers(n_jobs, device, n_items):
    """Start the worker processes of a :class:`Fingerprinter` now, and their imports.

    A worker's first job imports numpy, pymatgen and (to render on a CPU) torch, seconds of
    work that the caller can overlap with its own: call this first, do that work, then
    exhaust what this returns before the first :meth:`Fingerprinter.images_or_errors`
    (joblib stops the workers of a run that is dropped unfinished).

    Parameters
    ----------
    n_jobs : int or None
        The fingerprinter's ``n_jobs``.
    device : str or torch.device
        Its ``device``.
    n_items : int
        Items it will read: none is started for one item (:func:`worker_count`), and
        only as many do their imports as there are items.

    Returns
    -------
    iterator
        Nothing of interest; exhausted once every worker has done its imports.
    """
    workers = worker_count(n_jobs, n_items)
    if workers == 1:
        return iter(())
    from joblib import Parallel, delayed

    render = _on_cpu(device)
    # The pool of n_jobs that the jobs will use (another size would start another pool).
    return Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_imports)(render) for _ in range(workers)
    )


def _on_cpu(device):
    """Whether ``device`` (a name or a torch.device) is the CPU."""
    return str(device).split(":")[0] == "cpu"


def _imports(render):
    """What a worker's jobs import, done ahead of them (see :func:`start_workers`)."""
    from . import _inputs  # noqa: F401 -- pymatgen and the readers

    if render:
        import torch  # noqa: F401


def _in_place(pending, images):
    """``pending`` with its clusters replaced by their images (or errors), in order."""
    images = iter(images)
    for result in pending:
        yield result if isinstance(result, BaseException) else next(images)


def _cluster_or_error(item, index, n_atoms, shift):
    return _guarded(_one_cluster, item, index, n_atoms, shift)


def _guarded(function, *args):
    """``function(*args)``, or the exception it raised."""
    try:
        return function(*args)
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
