"""Large samples whose phase at every atom is known: polycrystals, precipitates, stacking, atom probe.

For testing and benchmarking local classification (:mod:`skcrystal.local`). Every sample is
a periodic cubic box filled grain by grain with a class prototype of
:data:`skcrystal.datasets.PROTOTYPES` in its own random orientation, all at one
nearest-neighbour distance; atoms of neighbouring grains closer than a fraction of it are
merged at the boundaries. The truth comes back per atom, with each atom's distance to the
nearest grain or phase boundary. Each grain is filled around its own seed and wrapped into
the box afterwards, so that a grain crossing a box face stays one crystal across it (as
Voronoi builders such as Atomsk do): the box faces are no boundaries.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .datasets import build

#: The grain of each class: a prototype and its parameters (ideal hcp; tetragonal c/a as in
#: the middle of the training ranges).
GRAINS = {
    "fcc": ("A_cF4_225_a", {}),
    "bcc": ("A_cI2_229_a", {}),
    "hex/rh": ("A_hP2_194_c", {"c/a": 1.633}),
    "sc": ("A_cP1_221_a", {}),
    "diam": ("A_cF8_227_a", {}),
    "bct139": ("A_tI2_139_a", {"c/a": 1.2}),
    "bct141": ("A_tI4_141_a", {"c/a": 0.55}),
}
#: Atoms of two grains closer than this many nearest-neighbour distances: one is dropped.
MIN_SEPARATION = 0.7


@validate_params(
    {
        "size": [Interval(Real, 0, None, closed="neither")],
        "n_grains": [Interval(Integral, 1, None, closed="left")],
        "classes": [list, tuple],
        "element": [str],
        "nn_distance": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_polycrystal(
    size=60.0,
    n_grains=8,
    *,
    classes=("fcc", "bcc", "hex/rh"),
    element="Cu",
    nn_distance=2.55,
    random_state=None,
):
    """A periodic Voronoi polycrystal: grains of several classes in random orientations.

    Parameters
    ----------
    size : float, default=60.0
        Edge of the cubic box, Angstrom.
    n_grains : int, default=8
        Grains; grain ``k`` has class ``classes[k % len(classes)]``.
    classes : sequence of str, default=("fcc", "bcc", "hex/rh")
        Keys of :data:`GRAINS`.
    element : str, default="Cu"
        Chemical symbol of every atom.
    nn_distance : float, default=2.55
        Nearest-neighbour distance of every grain, Angstrom.
    random_state : int, RandomState or None, default=None
        Seeds, orientations.

    Returns
    -------
    atoms : ase.Atoms
        The periodic box.
    truth : sklearn.utils.Bunch
        ``labels`` (class per atom), ``grain`` (grain index per atom),
        ``boundary_distance`` (Angstrom, to the nearest boundary), ``seeds``, ``classes``
        (per grain) and ``rotations`` (per grain, ``r_grain = rotation @ r_prototype``).

    Examples
    --------
    >>> atoms, truth = make_polycrystal(30.0, 2, classes=("fcc", "bcc"), random_state=0)
    >>> sorted(set(truth.labels.tolist())), len(atoms) == len(truth.labels)
    (['bcc', 'fcc'], True)
    """
    from scipy.spatial.transform import Rotation

    rng = check_random_state(random_state)
    seeds = rng.uniform(0, size, (n_grains, 3))
    rotations = Rotation.random(n_grains, random_state=rng).as_matrix().reshape(n_grains, 3, 3)
    grain_classes = [classes[k % len(classes)] for k in range(n_grains)]
    from scipy.spatial import cKDTree

    images, owners = _periodic_seeds(seeds, size)
    tree = cKDTree(images)
    unshifted = np.flatnonzero(np.all(images == seeds[owners], axis=1))

    def _grain_points(grain, cell, basis):
        # The grain's Voronoi cell lies within half a box of its seed: filled there, with a
        # lattice site on the seed, and wrapped, the grain is one crystal across the box faces.
        seed = seeds[grain]
        points = _lattice_points(
            cell, basis, seed, seed - size / 2 - nn_distance, seed + size / 2 + nn_distance
        )
        return np.mod(points[tree.query(points)[1] == unshifted[grain]], size)

    def _boundary_distance(points, grain):
        return _voronoi_distance(points, grain, images, owners)

    return _assemble(
        size,
        grain_classes,
        rotations,
        _grain_points,
        _boundary_distance,
        element,
        nn_distance,
        seeds=seeds,
    )


@validate_params(
    {
        "size": [Interval(Real, 0, None, closed="neither")],
        "n_precipitates": [Interval(Integral, 0, None, closed="left")],
        "radius": [Interval(Real, 0, None, closed="neither")],
        "matrix": [str],
        "precipitate": [str],
        "element": [str],
        "nn_distance": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_precipitates(
    size=60.0,
    n_precipitates=4,
    radius=8.0,
    *,
    matrix="fcc",
    precipitate="bcc",
    element="Fe",
    nn_distance=2.5,
    random_state=None,
):
    """A matrix crystal with spherical precipitates of another class in random orientations.

    The matrix is cube-on-cube with the box, whose edge is rounded to whole matrix cells, so
    that it is one periodic crystal.

    Parameters
    ----------
    size : float, default=60.0
        Edge of the cubic box, Angstrom.
    n_precipitates : int, default=4
        Number of precipitates.
    radius : float, default=8.0
        Precipitate radius, Angstrom (they may overlap).
    matrix, precipitate : str, default="fcc", "bcc"
        Keys of :data:`GRAINS`; the matrix is a cubic class (fcc, bcc, sc, diam).
    element : str, default="Fe"
        Chemical symbol of every atom.
    nn_distance : float, default=2.5
        Nearest-neighbour distance of the matrix and the precipitates, Angstrom.
    random_state : int, RandomState or None, default=None
        Seeds the centres and orientations of the precipitates.

    Returns
    -------
    atoms : ase.Atoms
        The periodic box.
    truth : sklearn.utils.Bunch
        As :func:`make_polycrystal`; grain 0 is the matrix, grain ``k`` precipitate ``k``.

    Examples
    --------
    >>> atoms, truth = make_precipitates(30.0, 1, 6.0, random_state=0)
    >>> sorted(set(truth.labels.tolist())), bool(truth.boundary_distance[truth.labels == "bcc"].max() <= 6)
    (['bcc', 'fcc'], True)
    """
    from scipy.spatial.transform import Rotation

    lattice = _crystal(matrix, element, nn_distance).lattice if matrix in GRAINS else None
    if lattice is None or not np.allclose(lattice.angles, 90):
        raise ValueError(f"the matrix must be a cubic class (fcc, bcc, sc, diam); got {matrix!r}.")
    edge = lattice.a
    size = edge * max(1, round(size / edge))
    rng = check_random_state(random_state)
    centres = rng.uniform(0, size, (n_precipitates, 3))
    rotations = Rotation.random(n_precipitates + 1, random_state=rng).as_matrix().reshape(-1, 3, 3)
    rotations[0] = np.eye(3)

    def _distances(points):
        offsets = points[:, None, :] - centres[None, :, :]
        offsets -= size * np.round(offsets / size)
        return np.linalg.norm(offsets, axis=2) - radius

    def _owner(points):
        inside = _distances(points)
        return np.where(inside.min(axis=1) < 0, 1 + inside.argmin(axis=1), 0)

    def _grain_points(grain, cell, basis):
        centre = np.zeros(3) if grain == 0 else centres[grain - 1]
        reach = size if grain == 0 else radius + nn_distance
        points = np.mod(
            _lattice_points(
                cell, basis, centre, centre - (0 if grain == 0 else reach), centre + reach
            ),
            size,
        )
        return points[_owner(points) == grain]

    def _boundary_distance(points, grain):
        return np.abs(_distances(points)).min(axis=1)

    return _assemble(
        size,
        [matrix] + [precipitate] * n_precipitates,
        rotations,
        _grain_points,
        _boundary_distance,
        element,
        nn_distance,
        seeds=centres,
    )


@validate_params(
    {
        "efficiency": [Interval(Real, 0, 1, closed="right")],
        "sigma": ["array-like"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def atom_probe(atoms, efficiency=0.5, sigma=(0.1, 0.1, 0.3), *, random_state=None):
    """Degrade a sample as an atom-probe reconstruction does: a point cloud with atoms lost.

    A share ``1 - efficiency`` of the atoms is not detected, and the others are displaced by
    Gaussian noise, anisotropic (depth resolution differs from the lateral one). The cell is
    dropped: the result is a point cloud.

    Parameters
    ----------
    atoms : ase.Atoms
        The sample, e.g. from :func:`make_polycrystal`.
    efficiency : float, default=0.5
        Detection efficiency.
    sigma : sequence of 3 floats, default=(0.1, 0.1, 0.3)
        Standard deviation of the noise along x, y and z, Angstrom.
    random_state : int, RandomState or None, default=None
        Seeds the detection and the noise.

    Returns
    -------
    cloud : ase.Atoms
        No cell, ``pbc`` False.
    kept : ndarray of int
        Indices of the detected atoms in ``atoms``.

    Examples
    --------
    >>> from ase.build import bulk
    >>> cloud, kept = atom_probe(bulk("Cu", cubic=True) * 5, random_state=0)
    >>> len(cloud) == len(kept) < 500, bool(cloud.pbc.any())
    (True, False)
    """
    from ase import Atoms

    rng = check_random_state(random_state)
    kept = np.flatnonzero(rng.random_sample(len(atoms)) < efficiency)
    noise = rng.normal(size=(len(kept), 3)) * np.asarray(sigma, dtype=float)
    cloud = Atoms(numbers=atoms.numbers[kept], positions=atoms.positions[kept] + noise, pbc=False)
    return cloud, kept


def _crystal(name, element, nn_distance):
    prototype, params = GRAINS[name]
    return build(prototype, element, nn_distance, params)


def _assemble(
    size, grain_classes, rotations, grain_points, boundary_distance, element, nn_distance, seeds
):
    """Fill a periodic box grain by grain (``grain_points(grain, cell, basis)`` gives the
    grain's sites in the box)."""
    from ase import Atoms
    from scipy.spatial import cKDTree

    positions, grains = [], []
    for grain, (name, rotation) in enumerate(zip(grain_classes, rotations)):
        if name not in GRAINS:
            raise ValueError(f"unknown class {name!r}; one of {sorted(GRAINS)}.")
        crystal = _crystal(name, element, nn_distance)
        mine = grain_points(grain, crystal.lattice.matrix @ rotation.T, crystal.frac_coords)
        positions.append(mine)
        grains.append(np.full(len(mine), grain))
    positions, grains = np.concatenate(positions), np.concatenate(grains)
    # Atoms of two grains on top of each other at a boundary (or a site on the box face
    # twice): keep the first.
    pairs = cKDTree(positions, boxsize=size).query_pairs(
        MIN_SEPARATION * nn_distance, output_type="ndarray"
    )
    drop = np.zeros(len(positions), dtype=bool)
    for i, j in pairs[np.lexsort(pairs.T[::-1])]:
        if not drop[i]:
            drop[j] = True
    positions, grains = positions[~drop], grains[~drop]
    distance = np.full(len(positions), np.inf)
    for grain in np.unique(grains):
        mine = grains == grain
        distance[mine] = boundary_distance(positions[mine], grain)
    atoms = Atoms(
        symbols=[element] * len(positions), positions=positions, cell=np.eye(3) * size, pbc=True
    )
    labels = np.array(grain_classes)[grains]
    truth = Bunch(
        labels=labels,
        grain=grains,
        boundary_distance=distance,
        seeds=seeds,
        classes=list(grain_classes),
        rotations=rotations,
    )
    return atoms, truth


def _lattice_points(cell, frac_basis, origin, low, high):
    """The sites of a crystal (``cell`` rows, basis, a lattice point at ``origin``) in the box
    ``[low, high)``."""
    low, high = np.broadcast_to(low, 3).astype(float), np.broadcast_to(high, 3).astype(float)
    corners = np.array(np.meshgrid(*zip(low, high), indexing="ij")).reshape(3, -1).T
    frac = (corners - origin) @ np.linalg.inv(cell)
    first, last = np.floor(frac.min(axis=0)) - 1, np.ceil(frac.max(axis=0)) + 1
    cells = np.stack(
        np.meshgrid(*[np.arange(a, b) for a, b in zip(first, last)], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    points = origin + ((cells[:, None, :] + np.asarray(frac_basis)[None, :, :]) @ cell).reshape(
        -1, 3
    )
    return points[np.all((points >= low) & (points < high), axis=1)]


def _periodic_seeds(seeds, size):
    """The seeds and their 26 periodic images, and which seed each is."""
    shifts = np.stack(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij"), axis=-1).reshape(-1, 3) * size
    images = (seeds[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    return images, np.tile(np.arange(len(seeds)), len(shifts))


def _voronoi_distance(points, grain, images, owners):
    """Distance of points of one Voronoi grain to its nearest face: a bisector plane with any
    other seed image, its own periodic images included (a grain that meets its own image
    meets a translated copy of its lattice)."""
    from scipy.spatial import cKDTree

    own = images[owners == grain]
    distance = np.empty(len(points))
    # In blocks of points: the (points x seeds x 3) arrays stay small.
    for start in range(0, len(points), 4096):
        block = points[start : start + 4096]
        nearest_own = own[cKDTree(own).query(block)[1]]
        # The distance to the bisector plane of s and s_k, ((s + s_k)/2 - x) . (s_k - s) / |s_k - s|.
        gap = images[None, :, :] - nearest_own[:, None, :]
        middle = (nearest_own[:, None, :] + images[None, :, :]) / 2
        length = np.linalg.norm(gap, axis=2)
        to_plane = ((middle - block[:, None, :]) * gap).sum(axis=2) / np.where(
            length > 0, length, 1.0
        )
        distance[start : start + 4096] = np.where(length > 0, to_plane, np.inf).min(axis=1)
    return distance


def make_stacking(
    layers=("fcc", 12, "hex/rh", 12), *, repeats=(8, 5), element="Co", nn_distance=2.5
):
    """Close-packed layers stacked as fcc (ABC) and hcp (AB) lamellae, coherent, periodic.

    Layers are stacked along z; a lamella of ``n`` layers continues the stacking as fcc (the
    next layer differs from the last two) or hcp (it repeats the one before last). The truth
    of an atom is its layer's stacking environment, the definition of PTM and CNA: hcp if the
    layers above and below are at the same lateral position, fcc if not.

    Parameters
    ----------
    layers : sequence, default=("fcc", 12, "hex/rh", 12)
        Alternating class (``"fcc"`` or ``"hex/rh"``) and number of layers of each lamella.
    repeats : tuple of 2 int, default=(8, 5)
        In-plane cells (rectangular, two atoms per layer) along x and y.
    element : str, default="Co"
        Chemical symbol of every atom.
    nn_distance : float, default=2.5
        Nearest-neighbour distance, in and between the layers, Angstrom.

    Returns
    -------
    atoms : ase.Atoms
        The periodic box, layers along z.
    truth : sklearn.utils.Bunch
        ``labels``, ``layer`` (index of each atom's layer) and ``boundary_distance`` (along
        z, to the nearest layer of the other class, Angstrom).

    Examples
    --------
    >>> atoms, truth = make_stacking(("fcc", 6, "hex/rh", 6), repeats=(2, 2))
    >>> len(atoms), [str(label) for label in truth.labels[::8][:12]]
    (96, ['fcc', 'fcc', 'fcc', 'fcc', 'fcc', 'hex/rh', 'hex/rh', 'hex/rh', 'hex/rh', 'hex/rh', 'hex/rh', 'fcc'])
    """
    from ase import Atoms

    kinds, counts = list(layers[0::2]), [int(n) for n in layers[1::2]]
    if (
        any(kind not in ("fcc", "hex/rh") for kind in kinds)
        or len(kinds) != len(counts)
        or min(counts, default=0) < 2
    ):
        raise ValueError(
            f"layers must alternate 'fcc' or 'hex/rh' and a count of at least 2; got {layers!r}."
        )
    sequence = [0, 1]
    for kind, count in zip(kinds, counts):
        for _ in range(count):
            sequence.append(3 - sequence[-1] - sequence[-2] if kind == "fcc" else sequence[-2])
    sequence = np.array(sequence[2:])
    n_layers = len(sequence)
    # Each layer's environment, periodic along z.
    below, above = np.roll(sequence, 1), np.roll(sequence, -1)
    labels_of_layer = np.where(below == above, "hex/rh", "fcc")
    a = nn_distance
    spacing = a * np.sqrt(2 / 3)
    shifts = np.array([[0.0, 0.0], [a / 2, a * np.sqrt(3) / 6], [a, a * np.sqrt(3) / 3]])
    cell_xy = np.array([a, a * np.sqrt(3)])
    base = np.array([[0.0, 0.0], [a / 2, a * np.sqrt(3) / 2]])
    nx, ny = repeats
    grid = np.array([[i * cell_xy[0], j * cell_xy[1]] for i in range(nx) for j in range(ny)])
    plane = (grid[:, None, :] + base[None, :, :]).reshape(-1, 2)
    positions, layer_index = [], []
    for k, letter in enumerate(sequence):
        xy = (plane + shifts[letter]) % (cell_xy * [nx, ny])
        positions.append(np.column_stack([xy, np.full(len(xy), k * spacing)]))
        layer_index.append(np.full(len(xy), k))
    positions, layer_index = np.concatenate(positions), np.concatenate(layer_index)
    cell = np.diag([cell_xy[0] * nx, cell_xy[1] * ny, spacing * n_layers])
    atoms = Atoms(symbols=[element] * len(positions), positions=positions, cell=cell, pbc=True)
    other = [np.flatnonzero(labels_of_layer != label) for label in labels_of_layer]
    steps = np.array(
        [
            min((min(abs(k - j), n_layers - abs(k - j)) for j in others), default=n_layers)
            for k, others in enumerate(other)
        ]
    )
    distance = steps[layer_index] * spacing
    return atoms, Bunch(
        labels=labels_of_layer[layer_index], layer=layer_index, boundary_distance=distance
    )
