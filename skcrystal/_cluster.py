"""Centre, scale and carve the canonical cluster of a periodic structure.

The fingerprint must not depend on how the user wrote the crystal down: primitive or
conventional cell, supercell, rotation, translation, atom order, defects and thermal motion.
:func:`canonical_cluster` maps a periodic structure to a finite cluster of atoms in a
canonical frame, without a tolerance on atomic positions:

1. The lattice of the crystal from its Bragg peaks (:func:`skcrystal._bragg.bragg_lattice`):
   an exact integer sublattice of the input cell's reciprocal lattice, found peak by peak so
   that the satellites of thermal motion do not refine it.
2. Its orientation (:func:`skcrystal._orientation.canonical_frame`): spglib's standard
   frame of the bare lattice, chosen from its rounded metric so that it turns with the input,
   and the small strain of a breathing simulation box taken off (a cubic crystal maps onto
   an ideal cubic lattice).
3. The length scale, the parent crystal's nearest-neighbour distance: atoms folded into the
   primitive cell form one blob per basis site, whose centres average out displacements
   (the plain minimum distance per atom is biased low by them).
4. A cluster of about ``n_atoms`` atoms (fewer in proportion to the vacancies, so that a
   defective crystal keeps its parent's cluster radius) is carved from the periodic structure
   around a canonical basis site (a sphere has no memory of the cell), its last coordination
   shell completed or dropped so that a pristine cluster keeps the site symmetry.
5. A box wider than such a cluster (an MD frame, a large supercell) gives one cluster per
   region, up to eight (:func:`region_middles`), each carved around the canonical site
   nearest its region's middle; the fingerprint sums their patterns. One sphere of a hot box
   sees its own fluctuations (measured on LAMMPS frames of bcc Fe at 1.05 Tm: one region
   gave bct139 for one frame in ten); the sum over regions sees the box's average. A
   pristine crystal's regions are copies of one cluster, so its image does not change.

If no three independent Bragg peaks are found (a liquid, an amorphous solid), the input cell
itself stands in for the primitive lattice, so the result is still deterministic. A primitive
cell of more than :data:`MAX_BASIS_ATOMS` atoms is not folded into a basis, so that no step
costs the square of the number of atoms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._bragg import _subset, bragg_lattice
from ._orientation import _nearest_rotation, canonical_frame, reduce_cell

#: Two distances from the centre closer than this (relative) belong to one coordination shell.
SHELL_RTOL = 1e-6
#: Radius of a basis-site blob, relative to the raw nearest-neighbour distance.
BLOB_RADIUS = 0.3
#: Blobs of fewer atoms than this fraction of the largest blob are not basis sites.
BLOB_MIN_SHARE = 0.2
#: Primitive cells of more atoms than this are not folded into a basis (the raw
#: nearest-neighbour distance and the atom nearest the middle of the cell are used).
MAX_BASIS_ATOMS = 128
#: The ideal nearest-neighbour distance is trusted within this range of the raw estimate.
IDEAL_RANGE = (0.8, 1.6)
#: Neighbours compared, and their relative rounding, when choosing the centre site.
SIGNATURE_NEIGHBOURS = 32
SIGNATURE_RTOL = 0.02
#: Distances within this fraction of the shortest one form the first coordination shell.
SHELL_WIDTH = 0.02
#: Neighbours within this many nearest-neighbour distances enter the handedness functional.
HANDEDNESS_RADIUS = 2.5
#: Smallest cluster carved from a crystal with many vacancies.
MIN_CLUSTER = 16
#: A box wide enough is split into this many regions along each cell vector.
REGIONS_PER_AXIS = 2
#: Atoms whose folding gives the blob centres of the ideal basis (a fixed pseudo-random subset of a
#: larger cell: the centres are averages, a subset of this size pins them to 1e-3 of a bond).
BASIS_ATOMS = 65536


@dataclass(frozen=True)
class Cluster:
    """A finite cluster of atoms in the canonical frame: what the fingerprint renders.

    :meth:`skcrystal.DiffractionFingerprint.clusters` returns them and
    :meth:`~skcrystal.DiffractionFingerprint.render` draws them; a cluster can be saved,
    shown, or rendered again with other detector settings.

    Attributes
    ----------
    positions : ndarray of shape (n, 3)
        Cartesian positions, centred on the centroid (of their region), scaled so that the
        parent crystal's nearest-neighbour distance is 1 Angstrom, rotated into the canonical
        frame (and the small strain of a breathing box taken off, see
        :func:`skcrystal._orientation.canonical_frame`).
    numbers : ndarray of shape (n,)
        Atomic numbers.
    rotation : ndarray of shape (3, 3)
        The proper rotation applied to the input frame (``r_canonical = rotation @ r``).
    scale : float
        The nearest-neighbour distance (Angstrom) divided out.
    regions : ndarray of shape (n,) or None
        The region of each atom, when the cluster is carved from several regions of a large
        box (see :func:`skcrystal._cluster.region_middles`): each region is centred on its own
        centroid, and the rendered pattern is the sum of the regions' patterns. ``None``: one
        region.
    """

    positions: np.ndarray
    numbers: np.ndarray
    rotation: np.ndarray
    scale: float
    regions: np.ndarray | None = None


# Public as skcrystal.fingerprint.Cluster: DiffractionFingerprint.clusters returns it and
# render takes it.
Cluster.__module__ = "skcrystal.fingerprint"


def central_atom(cell, frac_coords, middle=(0.5, 0.5, 0.5)):
    """Fractional coordinates of the atom nearest ``middle`` (fractional), periodically.

    Ties are broken by position, so the choice does not depend on atom order.
    """
    frac = np.asarray(frac_coords, dtype=float)
    offset = frac - np.asarray(middle, dtype=float)
    offset -= np.round(offset)
    distance = np.round(np.linalg.norm(offset @ np.asarray(cell, dtype=float), axis=1), 6)
    nearest = np.flatnonzero(distance == distance.min())
    order = np.lexsort(np.round(offset[nearest], 6).T[::-1])
    return frac[nearest[order[0]]]


def central_site(cell, primitive, basis, scale, rotation, middle=None):
    """Fractional coordinates (in ``cell``) of the canonical basis site nearest the middle.

    ``middle`` (Cartesian) is the middle of ``cell`` unless given.

    The candidates are the basis sites whose sorted neighbour distances (ideal crystal, first
    ``SIGNATURE_NEIGHBOURS``) come first lexicographically: one Wyckoff orbit, so that
    translated or re-celled copies of a crystal with several orbits are centred on the same
    one. Sites of one orbit can still see their environment turned (the two a-sites of the
    La prototype differ by 60 degrees about c): of the candidates, the one whose environment,
    turned into the canonical frame, maximises a fixed asymmetric functional is taken. The
    set of environments of an orbit is invariant under the crystal's point group, so this
    choice does not depend on which of the equivalent standard frames spglib returned.
    """
    primitive = np.asarray(primitive, dtype=float)
    reduced = reduce_cell(primitive)[0]
    sites = np.asarray(basis, dtype=float) @ primitive
    best = sites[0] if len(sites) == 1 else _canonical_site(sites, reduced, scale, rotation)
    # The copy nearest the middle of the cell; ties broken by position in the cell, which
    # turns with the crystal (a rotated input picks the same copy).
    if middle is None:
        middle = np.asarray(cell, dtype=float).sum(axis=0) / 2
    nearest = best + np.round((middle - best) @ np.linalg.inv(reduced)) @ reduced
    unit = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    copies = nearest + unit @ reduced
    frac = copies @ np.linalg.inv(cell)
    distance = np.round(np.linalg.norm(copies - middle, axis=1) / scale, 6)
    return frac[np.lexsort(np.round(frac, 6).T[::-1].tolist() + [distance])[0]]


def _canonical_site(sites, reduced, scale, rotation):
    """Of several basis sites (Cartesian), the canonical one (see :func:`central_site`)."""
    reach = np.ceil(4 * scale * np.linalg.norm(np.linalg.inv(reduced), axis=0)).astype(int) + 1
    shifts = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=-1)
    images = (sites[None, :, :] + (shifts.reshape(-1, 3) @ reduced)[:, None, :]).reshape(-1, 3)
    signatures, handedness = [], []
    for site in sites:
        vectors = images - site
        lengths = np.linalg.norm(vectors, axis=1)
        order = np.argsort(lengths)[1 : SIGNATURE_NEIGHBOURS + 1]
        signatures.append(lengths[order] / scale)
        # Whole shells (not the first N neighbours, which may cut a shell arbitrarily).
        near = (lengths > 1e-6 * scale) & (lengths <= HANDEDNESS_RADIUS * scale)
        handedness.append(_asymmetry(vectors[near] @ np.asarray(rotation).T / scale))
    # Lexicographic minimum, with values within SIGNATURE_RTOL taken as equal.
    candidates = np.arange(len(sites))
    signatures = np.array(signatures)
    for column in signatures.T:
        candidates = candidates[column[candidates] <= column[candidates].min() + SIGNATURE_RTOL]
    return sites[max(candidates, key=lambda k: handedness[k])]


def _asymmetry(vectors):
    """A fixed functional of an environment that no rotation or inversion leaves unchanged.

    Polynomials of degree 1 to 4 in the projections on generic directions: odd degrees tell
    an environment from its inverse (the two diamond sites), degree 4 tells a centrosymmetric
    environment from its copy turned by 60 degrees about a 3-fold axis (the La a-sites),
    which degree 2 cannot.
    """
    weights = np.exp(-np.sum(vectors**2, axis=1))
    projections = vectors @ _GENERIC_DIRECTIONS.T
    terms = projections + projections**2 + projections**3 + projections**4
    return float(weights @ terms.sum(axis=1))


#: Three directions with no symmetry relation to any lattice, for :func:`_asymmetry`.
_GENERIC_DIRECTIONS = np.array([[0.31, 0.57, 0.76], [-0.62, 0.14, 0.39], [0.23, -0.81, 0.44]])


def carve_cluster(cell, frac_coords, numbers, n_atoms, centre):
    """The about ``n_atoms`` atoms of a periodic structure nearest a centre point.

    The outermost coordination shell is completed or dropped, whichever lands nearer
    ``n_atoms``, so that a pristine cluster keeps its site symmetry.

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
    frac_coords : ndarray of shape (n, 3)
    numbers : ndarray of shape (n,)
    n_atoms : int
    centre : ndarray of shape (3,)
        Fractional coordinates of the centre.

    Returns
    -------
    positions : ndarray of shape (m, 3)
        Cartesian positions relative to the centre.
    numbers : ndarray of shape (m,)
        Atomic numbers.
    """
    frac = np.asarray(frac_coords, dtype=float)
    numbers = np.asarray(numbers)
    cell = np.asarray(cell, dtype=float)
    reduced, mapping = reduce_cell(cell)
    mapping = np.linalg.inv(mapping)
    frac = (frac - centre) @ mapping
    frac -= np.floor(frac + 0.5)
    n = len(frac)
    volume = abs(np.linalg.det(reduced))
    widths = 1.0 / np.linalg.norm(np.linalg.inv(reduced), axis=0)
    radius = 1.3 * (3 * n_atoms * volume / (4 * np.pi * n)) ** (1 / 3)
    while True:
        # An image within the radius has fractional coordinates within radius / width of 0,
        # and the atoms' own lie in [-0.5, 0.5): few shifts, and in a big box few atoms, count.
        reach = radius * (1 + 2 * SHELL_RTOL) / widths
        near = np.all((reach >= 0.5) | (np.abs(frac) <= reach), axis=1)
        shifts = np.stack(
            np.meshgrid(
                *[np.arange(-r, r + 1) for r in np.floor(reach + 0.5).astype(int)], indexing="ij"
            ),
            axis=-1,
        ).reshape(-1, 3)
        positions = ((frac[near][None, :, :] + shifts[:, None, :]) @ reduced).reshape(-1, 3)
        radii = np.linalg.norm(positions, axis=1)
        if np.count_nonzero(radii <= radius) >= n_atoms:
            break
        radius *= 1.5
    species = np.tile(np.asarray(numbers)[near], len(shifts))
    # Sort only what may be kept: the shell at the cut is completed up to SHELL_RTOL beyond it.
    inside = np.flatnonzero(radii <= radius * (1 + 2 * SHELL_RTOL))
    order = inside[np.argsort(radii[inside], kind="stable")]
    keep = order[: whole_shells(radii[order], n_atoms)]
    return positions[keep], species[keep]


def whole_shells(radii, n_atoms):
    """How many of the sorted ``radii`` to keep: about ``n_atoms``, the last shell whole.

    The shell at the cut is completed or dropped, whichever lands nearer ``n_atoms``.
    """
    if len(radii) <= n_atoms:
        return len(radii)
    cut = radii[n_atoms - 1]
    tol = SHELL_RTOL * cut
    inner = np.searchsorted(radii, cut - tol, side="left")
    outer = np.searchsorted(radii, cut + tol, side="right")
    return outer if outer - n_atoms <= n_atoms - inner else inner


def median_neighbour_distance(positions):
    """Median over atoms of the distance to the nearest other atom.

    Robust to vacancies (an atom loses its nearest-neighbour distance only when all its
    nearest neighbours are missing) but biased low by thermal displacements: the minimum of
    several noisy distances is smaller than their mean.
    """
    from scipy.spatial import cKDTree

    distances, _ = cKDTree(positions).query(positions, k=2)
    return float(np.median(distances[:, 1]))


def ideal_basis(cell, frac_coords, primitive, tolerance):
    """Basis sites of the parent crystal, averaged over displacements and vacancies.

    Atoms are folded into the primitive cell, where the copies of each basis site form a blob
    (spread by displacements, thinned by vacancies, blind to species). The blob centres are
    the ideal basis; blobs of fewer than :data:`BLOB_MIN_SHARE` times the largest blob's
    atoms (stray atoms of a hot crystal) are dropped. A cell of more than :data:`BASIS_ATOMS` atoms is folded from a fixed
    random subset of them.

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        Input cell (rows).
    frac_coords : ndarray of shape (n, 3)
        Fractional coordinates in ``cell``.
    primitive : ndarray of shape (3, 3)
        Primitive lattice (rows) of which ``cell`` is a supercell.
    tolerance : float
        Atoms within this distance (Angstrom) of a blob centre belong to it.

    Returns
    -------
    ndarray of shape (k, 3)
        Fractional coordinates of the ``k`` basis sites in ``primitive``.
    """
    primitive = np.asarray(primitive, dtype=float)
    frac = _subset(np.asarray(frac_coords, dtype=float), BASIS_ATOMS)
    folded = frac @ (np.asarray(cell) @ np.linalg.inv(primitive))
    folded -= np.floor(folded)
    free = np.ones(len(folded), dtype=bool)
    centres, sizes = [], []
    for seed in np.lexsort(np.round(folded, 6).T[::-1]):
        if not free[seed]:
            continue
        centre = folded[seed]
        for _ in range(2):
            offset = folded - centre
            offset -= np.round(offset)
            members = free & (np.linalg.norm(offset @ primitive, axis=1) < tolerance)
            members[seed] = True
            centre = centre + offset[members].mean(axis=0)
        free &= ~members
        centres.append(centre)
        sizes.append(np.count_nonzero(members))
        if np.count_nonzero(free) < BLOB_MIN_SHARE * max(sizes):
            break  # what is left cannot make a blob that is kept
    # Atoms that thermal motion carried out of their blob form small blobs of their own:
    # not sites of the crystal.
    sizes = np.array(sizes)
    return np.array(centres)[sizes >= BLOB_MIN_SHARE * sizes.max()]


def nearest_distance(primitive, basis):
    """Nearest-neighbour distance of a crystal given by lattice and basis.

    The mean of the distances within ``SHELL_WIDTH`` (relative) of the shortest one: with a
    noisy basis, the minimum alone would be biased low.

    Examples
    --------
    >>> import numpy as np
    >>> round(nearest_distance(np.diag([1.0, 1.0, 2.0]), np.array([[0, 0, 0], [0, 0, 0.3]])), 6)
    0.6
    """
    reduced = reduce_cell(primitive)[0]
    cartesian = np.asarray(basis, dtype=float) @ np.asarray(primitive, dtype=float)
    pairs = (cartesian[None, :, :] - cartesian[:, None, :]).reshape(-1, 3) @ np.linalg.inv(reduced)
    pairs -= np.round(pairs)
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    lengths = np.linalg.norm((pairs[:, None, :] + shifts[None, :, :]) @ reduced, axis=-1).ravel()
    lengths = lengths[lengths > 1e-6 * np.abs(np.linalg.det(reduced)) ** (1 / 3)]
    return float(lengths[lengths <= (1 + SHELL_WIDTH) * lengths.min()].mean())


def canonical_cluster(cell, frac_coords, numbers, n_atoms):
    """Cluster of a periodic structure in the canonical frame (see the module docstring).

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        Lattice vectors (rows), Angstrom.
    frac_coords : ndarray of shape (n, 3)
        Fractional coordinates.
    numbers : ndarray of shape (n,)
        Atomic numbers.
    n_atoms : int
        Target cluster size.

    Returns
    -------
    Cluster

    Examples
    --------
    >>> import numpy as np
    >>> cluster = canonical_cluster(2.9 * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [26, 26], 100)
    >>> len(cluster.numbers), round(cluster.scale, 4)
    (89, 2.5115)
    """
    cell = np.asarray(cell, dtype=float)
    primitive = bragg_lattice(cell, frac_coords)
    frame = canonical_frame(cell if primitive is None else primitive)
    rotation = _nearest_rotation(frame.T)
    first_centre = central_atom(cell, frac_coords)
    first = carve_cluster(cell, frac_coords, numbers, n_atoms, first_centre)
    scale = median_neighbour_distance(first[0])
    occupancy = 1.0
    # A primitive cell of many atoms is no crystal of a known class, or a lattice that the
    # peaks did not pin down: its basis would cost time and memory in its square.
    if (
        primitive is not None
        and len(frac_coords) * abs(np.linalg.det(primitive) / np.linalg.det(cell)) > MAX_BASIS_ATOMS
    ):
        primitive = None
    basis = None
    if primitive is not None:
        basis = ideal_basis(cell, frac_coords, primitive, BLOB_RADIUS * scale)
        ideal = nearest_distance(primitive, basis)
        # Blobs merge when displacements approach the bond length (amorphisation); the
        # raw estimate is then the better one.
        if IDEAL_RANGE[0] * scale <= ideal <= IDEAL_RANGE[1] * scale:
            scale = ideal
            n_sites = len(basis) * round(abs(np.linalg.det(cell) / np.linalg.det(primitive)))
            occupancy = min(1.0, len(frac_coords) / n_sites)
        else:
            basis = None
    # A vacant crystal keeps the extent of its parent's cluster: as many atoms as the parent's
    # cluster has occupied sites.
    size = max(MIN_CLUSTER, round(n_atoms * occupancy))
    middles = region_middles(cell, len(frac_coords), size)
    parts, kinds, regions = [], [], []
    for region, middle in enumerate(middles):
        if basis is None:
            centre = central_atom(cell, frac_coords, middle)
        else:
            centre = central_site(cell, primitive, basis, scale, rotation, middle @ cell)
        positions, species = first
        if size != n_atoms or not np.allclose(centre, first_centre, rtol=0, atol=1e-12):
            positions, species = carve_cluster(cell, frac_coords, numbers, size, centre)
        parts.append((positions - positions.mean(axis=0)) / scale)
        kinds.append(species)
        regions.append(np.full(len(species), region))
    return Cluster(
        np.concatenate(parts) @ frame,
        np.concatenate(kinds),
        rotation,
        scale,
        None if len(middles) == 1 else np.concatenate(regions),
    )


def region_middles(cell, n_atoms, size):
    """Fractional middles of the regions whose patterns the fingerprint averages.

    A box at least a cluster diameter wide along a cell vector (the sphere of ``size`` atoms
    at the box's density) is split in two along it: up to eight regions, whose middles lie a
    cluster radius or more apart. Their patterns are summed (incoherently), as a beam wider
    than one cluster would see them: in a box of thermal motion or defects, which atoms one
    sphere holds matters, and the average over the box much less. A small cell has one region,
    its middle.

    Examples
    --------
    >>> region_middles(30 * np.eye(3), 2000, 256).shape  # bcc Fe near Tm: 8 regions
    (8, 3)
    >>> region_middles(np.diag([15.0, 15.0, 30.0]), 300, 256).tolist()  # wide along c only
    [[0.5, 0.5, 0.25], [0.5, 0.5, 0.75]]
    """
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    widths = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    diameter = 2 * (3 * size * volume / (4 * np.pi * n_atoms)) ** (1 / 3)
    per_axis = np.where(widths >= diameter, REGIONS_PER_AXIS, 1)
    axes = [(np.arange(m) + 0.5) / m for m in per_axis]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
