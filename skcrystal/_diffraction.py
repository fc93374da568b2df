r"""Physics kernels of the two-dimensional diffraction fingerprint.

Pure functions: arrays and tensors in, arrays and tensors out. For one orientation, with the
beam along +z, a detector of ``n`` x ``n`` pixels of size ``p`` at distance ``D`` and pixel
centres ``(x_i, y_j) = ((i - (n - 1) / 2) p, (j - (n - 1) / 2) p)``,
``r = sqrt(x^2 + y^2 + D^2)``:

.. math::

    H_{ij} &= \frac{1}{\lambda} \left(\frac{x_i}{r}, \frac{y_j}{r}, \frac{D}{r} - 1\right)
    \qquad (|H| = 2 \sin\theta / \lambda, \text{ exact Ewald sphere})

    F(H) &= \sum_{\text{atoms } k} f_{Z_k + 2}(|H|) \, e^{-2 \pi i H \cdot r_k}

    I_{ij} &= \Omega_{ij} |F(H_{ij})|^2, \qquad \Omega_{ij} = p^2 D / r^3

    f_Z(s) &= \sum_{m=1}^{5} a_m e^{-b_m s^2} + c, \qquad s = |H| / 2

The X-ray form factors are the five-Gaussian fits of Waasmaier and Kirfel (Acta Cryst. A51,
416, 1995; valid to s = 6 / Angstrom, elements 1 to 98) as shipped by the ``periodictable``
package, copied into ``skcrystal/data/form_factors.csv``. The four-Gaussian coefficients that
pymatgen ships are fits to *electron* scattering factors, turned into X-ray ones by the
Mott-Bethe formula; that conversion grows again beyond s of about 1 / Angstrom for heavy
elements, well inside this detector's range (s up to 1.8 / Angstrom at the corners with the
default geometry).
"""

from __future__ import annotations

import functools

import numpy as np

#: Phases (pixels x atoms) per block of the eager kernel: 2 MB in float32, a size that stays
#: in a CPU's cache.
BLOCK_ELEMENTS = 2**19
#: Atoms are padded to a multiple of this for the compiled kernel, so few shapes compile.
ATOM_PAD = 64
#: Cluster sizes (at a number of threads) compiled per process at most: each costs seconds,
#: and torch.compile gives up compiling a function after 8 (it then runs its Python body, a
#: slow broadcast).
MAX_COMPILED_SHAPES = 6
_compiled_shapes = set()


def detector(wavelength, detector_distance, pixel_size, n_pixels):
    """Scattering vectors and solid angles of the detector pixels.

    Parameters
    ----------
    wavelength, detector_distance, pixel_size : float
        In metres.
    n_pixels : int
        Pixels along each side.

    Returns
    -------
    h : ndarray of shape (n_pixels, n_pixels, 3)
        Scattering vectors ``H`` in 1/Angstrom (no factor 2 pi), index ``[i, j]`` at
        ``(x_i, y_j)``.
    solid_angle : ndarray of shape (n_pixels, n_pixels)
        Solid angle of each pixel, steradian.

    Examples
    --------
    >>> h, omega = detector(5e-12, 0.1, 4e-4, 64)
    >>> h.shape, omega.shape
    ((64, 64, 3), (64, 64))
    """
    centre = (n_pixels - 1) / 2
    coords = (np.arange(n_pixels) - centre) * pixel_size
    x, y = np.meshgrid(coords, coords, indexing="ij")
    r = np.sqrt(x**2 + y**2 + detector_distance**2)
    per_angstrom = 1e-10 / wavelength
    h = np.stack([x / r, y / r, detector_distance / r - 1.0], axis=-1) * per_angstrom
    return h, pixel_size**2 * detector_distance / r**3


def rotations(angle):
    """The six rotations of the fingerprint: ``+angle`` and ``-angle`` about x, y and z.

    Parameters
    ----------
    angle : float
        Degrees.

    Returns
    -------
    ndarray of shape (6, 3, 3)
        In the order (x, +), (x, -), (y, +), (y, -), (z, +), (z, -).

    Examples
    --------
    >>> rotations(90.0)[0].round(6).tolist()  # +90 degrees about x takes y to z
    [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    """
    out = []
    for axis in range(3):
        for sign in (1.0, -1.0):
            theta = np.deg2rad(sign * angle)
            c, s = np.cos(theta), np.sin(theta)
            i, j = [k for k in range(3) if k != axis]
            rot = np.eye(3)
            rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
            out.append(rot)
    return np.array(out)


def is_quarter_turn(angle):
    """Whether ``angle`` (degrees) is a multiple of 90, a turn that maps the detector onto itself.

    Examples
    --------
    >>> is_quarter_turn(90.0), is_quarter_turn(-270.0), is_quarter_turn(60.0)
    (True, True, False)
    """
    turns = angle / 90.0
    return bool(np.isclose(turns, round(turns), rtol=0.0, atol=1e-9))


#: The form-factor table in ``skcrystal/data``.
FORM_FACTOR_TABLE = "form_factors.csv"


def _coefficients(z):
    """Waasmaier-Kirfel ``(a, b, c)`` of atomic number ``z``, or ``None`` if not tabulated."""
    return _form_factor_table().get(z)


@functools.cache
def _form_factor_table():
    """``{Z: (a, b, c)}`` from ``skcrystal/data/form_factors.csv``.

    The table is ``periodictable``'s, written by ``tools/make_form_factor_table.py``: reading
    it takes a millisecond, importing ``periodictable`` tens of them.
    """
    from importlib import resources

    text = (resources.files("skcrystal") / "data" / FORM_FACTOR_TABLE).read_text()
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith("#")]
    table = {}
    for row in rows[1:]:
        values = np.array(row[2:], dtype=float)
        table[int(row[0])] = (values[:5], values[5:10], float(values[10]))
    return table


def has_form_factor(z):
    """Whether an X-ray form factor is tabulated for atomic number ``z``."""
    return _coefficients(int(z)) is not None


def missing_form_factors(numbers, shift):
    """Sorted atomic numbers among ``numbers`` with no form factor at ``Z + shift``."""
    return sorted({int(z) for z in np.unique(numbers) if not has_form_factor(shifted(z, shift))})


#: Largest atomic number with a tabulated X-ray form factor (californium).
MAX_TABULATED_Z = 98


def shifted(numbers, shift):
    """Atomic numbers whose form factor stands for ``numbers``: ``Z + shift``, at most 98.

    The paper's shift of 2 would leave berkelium and californium without a form factor; they
    take that of californium, the heaviest tabulated. Heavier elements have none.

    Examples
    --------
    >>> shifted(np.array([29, 97, 98, 99]), 2).tolist()
    [31, 98, 98, 101]
    """
    numbers = np.asarray(numbers)
    return np.where(
        numbers <= MAX_TABULATED_Z, np.minimum(numbers + shift, MAX_TABULATED_Z), numbers + shift
    )


def form_factors(numbers, s):
    """X-ray form factors ``f_Z(s)``.

    Parameters
    ----------
    numbers : array-like of int, shape (k,)
        Atomic numbers (already shifted, if a shift is wanted).
    s : ndarray
        ``sin(theta) / lambda`` in 1/Angstrom, any shape.

    Returns
    -------
    ndarray of shape ``(k,) + s.shape``

    Examples
    --------
    >>> form_factors([29], np.array([0.0])).round(2).tolist()  # f(0) is close to Z
    [[28.99]]
    """
    s2 = np.asarray(s, dtype=float) ** 2
    out = []
    for z in numbers:
        a, b, c = _coefficients(int(z))
        gauss = np.exp(-b.reshape((-1,) + (1,) * s2.ndim) * s2)
        out.append(np.tensordot(a, gauss, axes=1) + c)
    return np.array(out)


#: Atoms this close (in the cluster's units, nearest neighbours 1 apart) count as at the same
#: place: two atoms of a group at ``r`` and ``-r`` are summed as ``2 cos(q . r)`` (their sines
#: cancel to within ``|q| * 1e-9``, far below float32 resolution), and so are copies of a
#: region.
SAME_POSITION = 1e-9


def inversion_pairs(positions, groups):
    """Atoms that have an inversion partner through the origin in their own group.

    A centrosymmetric cluster (a pristine crystal carved around an inversion centre: fcc, bcc,
    simple cubic, body-centred tetragonal, rhombohedral) sums to ``2 cos(q . r)`` over each
    pair and has no sines: the kernel computes a quarter of the sines and cosines.

    Parameters
    ----------
    positions : ndarray of shape (n, 3)
        Cartesian positions, in float64 (pairs are matched to :data:`SAME_POSITION`).
    groups : ndarray of shape (n,)
        Group of each atom (region and species); partners must share it.

    Returns
    -------
    keep : ndarray of bool, shape (n,)
        The atoms to sum: one atom of each pair, and every atom without a partner.
    paired : ndarray of bool, shape (n,)
        Whether a kept atom stands for its pair.

    Examples
    --------
    >>> positions = np.array([[0.0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0]])
    >>> keep, paired = inversion_pairs(positions, np.zeros(4, int))
    >>> keep.tolist(), paired.tolist()
    ([True, True, False, True], [False, True, False, False])
    """
    from scipy.spatial import cKDTree

    positions = np.asarray(positions, dtype=float)
    n = len(positions)
    keep, paired = np.ones(n, bool), np.zeros(n, bool)
    if n == 0:
        return keep, paired
    _, partner = cKDTree(positions).query(-positions, distance_upper_bound=SAME_POSITION)
    atoms = np.arange(n)
    found = partner < n
    mutual = np.zeros(n, bool)
    mutual[found] = partner[partner[found]] == atoms[found]
    pair = mutual & (partner != atoms)
    pair[pair] &= groups[partner[pair]] == groups[pair]
    paired = pair & (atoms < partner)
    keep = ~(pair & (atoms > partner))
    return keep, paired


def phase_sums_eager(q, positions, weights, sine_weights=None):
    """Per-species sums of ``exp(-i q . r)`` over atoms, in cache-sized blocks.

    Parameters
    ----------
    q : Tensor of shape (k, 3)
        Scattering vectors times 2 pi.
    positions : Tensor of shape (b, n, 3)
        Atom positions of each crystal (padded with any positions).
    weights : Tensor of shape (b, n, s)
        Membership of each atom in one of ``s`` groups: one non-zero entry per row, the
        weight of the atom's cosine (1, or 2 for an atom that stands for an inversion pair);
        zero rows for padding atoms.
    sine_weights : Tensor of shape (b, n, s), optional
        Weights of the sines; zero for the atoms of inversion pairs, whose sines cancel.
        Default: ``weights``.

    Returns
    -------
    real, imag : Tensor of shape (b, k, s)
        Weighted sums of ``cos(q . r)`` and of ``sin(q . r)`` over the atoms of each group
        (the sign of the imaginary part is irrelevant to intensities).

    Notes
    -----
    On a CPU, one crystal at a time, the atoms with sines first: each block of pixels x atoms
    (:data:`BLOCK_ELEMENTS` phases) is computed, turned into its cosine (and sine, for the
    atoms that need one) and summed into the groups, weighted, by one matrix product with the
    (groups x atoms) weights before the next block, so that it stays in the cache. The kernel
    is then bound by the cosines and sines rather than by memory traffic (a batch-wide phase
    matrix is hundreds of MB). On a GPU, one matrix product per block spans the batch.

    Examples
    --------
    >>> import torch
    >>> q = torch.tensor([[0.0, 0.0, 1.0]])
    >>> positions = torch.tensor([[[0.0, 0.0, 0.5], [0.0, 0.0, -0.5]]])
    >>> real, imag = phase_sums_eager(q, positions, torch.ones(1, 2, 1))
    >>> round(real.item(), 4), round(imag.item(), 4)  # 2 cos(0.5), sines cancel
    (1.7552, 0.0)
    """
    import torch

    if sine_weights is None:
        sine_weights = weights
    if q.device.type != "cpu":
        return _phase_sums_batched(q, positions, weights, sine_weights)
    n_crystals, _, n_groups = weights.shape
    real = torch.zeros((n_crystals, q.shape[0], n_groups), dtype=q.dtype)
    imag = torch.zeros_like(real)
    transposed = q.T.contiguous()
    for b in range(n_crystals):
        member = weights[b].sum(dim=1) > 0
        has_sine = sine_weights[b][member].amax(dim=1) > 0
        # Atoms with sines first: the sines are taken of a leading slice of each block.
        order = torch.nonzero(member).ravel()[torch.argsort(~has_sine, stable=True)]
        with_sines = int(has_sine.sum())
        # Fresh arrays: BLAS kernels depend on the alignment of their operands, and a
        # crystal's image must not depend on its place in the batch (bit for bit).
        atoms = positions[b][order].clone()
        cosine_weights = weights[b][order].T.contiguous()  # (groups, atoms)
        sine_weights_b = sine_weights[b][order[:with_sines]].T.contiguous()
        block = max(64, BLOCK_ELEMENTS // max(len(atoms), 1))
        # BLAS is several times faster at these inner dimensions of 3 when the longer side of
        # the product is its rows.
        axis = 1 if block >= len(atoms) else 0
        atoms_t = atoms.T.contiguous()
        # Buffers reused block after block: a fresh 2 MB array is a fresh mapping whose
        # pages fault in on first touch, as slow as the cosines themselves.
        shape = (block, len(atoms)) if axis else (len(atoms), block)
        phase_buffer = torch.empty(shape, dtype=q.dtype)
        cosine_buffer = torch.empty_like(phase_buffer)
        for start in range(0, q.shape[0], block):
            stop = min(start + block, q.shape[0])
            pixels = slice(start, stop)
            phase = phase_buffer.narrow(1 - axis, 0, stop - start)
            if axis:
                torch.matmul(q[pixels], atoms_t, out=phase)  # (block, atoms)
            else:
                torch.matmul(atoms, transposed[:, pixels], out=phase)  # (atoms, block)
            cosine = torch.cos(phase, out=cosine_buffer.narrow(1 - axis, 0, stop - start))
            # (groups, atoms) @ (atoms, block): one product sums every group, weighted.
            real[b, pixels] += (cosine_weights @ (cosine.T if axis else cosine)).T
            if with_sines:
                sine = phase.narrow(axis, 0, with_sines).sin_()
                imag[b, pixels] += (sine_weights_b @ (sine.T if axis else sine)).T
    return real, imag


def _phase_sums_batched(q, positions, weights, sine_weights):
    """:func:`phase_sums_eager` as matrix products over the whole batch (for a GPU)."""
    import torch

    real, imag = [], []
    weights_t = weights.transpose(1, 2)
    sine_weights_t = sine_weights.transpose(1, 2)
    block = max(64, 64 * BLOCK_ELEMENTS // (positions.shape[0] * max(positions.shape[1], 1)))
    for start in range(0, q.shape[0], block):
        phase = positions @ q[start : start + block].T  # (b, n, block)
        real.append(weights_t @ torch.cos(phase))
        imag.append(sine_weights_t @ torch.sin(phase))
    return torch.cat(real, dim=2).transpose(1, 2), torch.cat(imag, dim=2).transpose(1, 2)


def phase_sums_fused(q, positions, weights, sine_weights):
    """Same as :func:`phase_sums_eager` for one crystal, written for ``torch.compile``.

    Broadcasting (instead of a matrix product) lets the compiler fuse phase, cosine, sine
    and the sum over atoms into one loop that never stores the ``k x n`` phase matrix.
    ``positions`` is ``(n, 3)``, ``weights`` and ``sine_weights`` ``(n, s)``; returns
    ``(k, s)`` tensors.
    """
    phase = (q[:, None, :] * positions[None, :, :]).sum(-1)
    real = (phase.cos()[:, :, None] * weights[None, :, :]).sum(1)
    imag = (phase.sin()[:, :, None] * sine_weights[None, :, :]).sum(1)
    return real, imag


@functools.cache
def compiled_phase_sums():
    """``torch.compile`` of :func:`phase_sums_fused` (compiled on first call per shape)."""
    import torch

    return torch.compile(phase_sums_fused, dynamic=False)


def reserve_compiled_shape(n_atoms):
    """Whether the compiled kernel may take clusters of ``n_atoms`` (padded) atoms.

    True for a size compiled before at torch's current number of threads, or while fewer
    than :data:`MAX_COMPILED_SHAPES` (size, threads) pairs are; the pair is then counted as
    compiled. torch.compile compiles a size again when the number of threads changed (as
    :class:`skcrystal.local.LocalClassifier` does between chunks of regions).
    """
    import torch

    key = (n_atoms, torch.get_num_threads())
    if key in _compiled_shapes or len(_compiled_shapes) < MAX_COMPILED_SHAPES:
        _compiled_shapes.add(key)
        return True
    return False


def pad_atoms(n):
    """Number of atom slots for ``n`` atoms in the compiled kernel."""
    return -(-n // ATOM_PAD) * ATOM_PAD
