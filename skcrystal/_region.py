"""The canonical cluster of a finite region of a large sample.

The counterpart of :func:`skcrystal._cluster.canonical_cluster` for atoms without a periodic
cell (a region of a polycrystal, of an atom-probe reconstruction):

1. The region's own lattice from its Bragg peaks (:func:`skcrystal._finite_lattice.finite_lattice`),
   so each grain is seen in its own orientation, refined by least squares on the atoms nearest
   the centre (:data:`FIT_ATOMS_PER_CLUSTER_ATOM`): each atom near a basis site is that site
   plus a lattice vector (the peaks of a region of a few
   hundred atoms place the lattice to about 0.5 %, the atoms to the precision of the mean).
2. Its canonical frame, the parent crystal's nearest-neighbour distance from the basis-site
   blobs, and the canonical basis site nearest the region's centre, as for a periodic crystal.
3. The cluster: the atoms nearest that site, as many as a pristine cluster of ``n_atoms``
   atoms has occupied sites (a region with missing atoms keeps the pristine radius), the last
   coordination shell whole.

Without a lattice (a liquid, an amorphous region, a grain boundary whose peaks index no
single lattice) the input frame and the median nearest-neighbour distance stand in.
"""

from __future__ import annotations

import numpy as np

from ._cluster import (
    BLOB_RADIUS,
    IDEAL_RANGE,
    MAX_BASIS_ATOMS,
    MIN_CLUSTER,
    Cluster,
    central_site,
    ideal_basis,
    median_neighbour_distance,
    nearest_distance,
    whole_shells,
)
from ._finite_lattice import finite_lattice
from ._orientation import _nearest_rotation, canonical_frame

#: The lattice is fitted to this many atoms nearest the centre per atom of a pristine cluster:
#: the cluster and a shell around it, not the far side of a boundary at the region's edge.
FIT_ATOMS_PER_CLUSTER_ATOM = 1.5


def region_cluster(positions, numbers, n_atoms):
    """Cluster of a region in the canonical frame, and which of its atoms it holds.

    Parameters
    ----------
    positions : ndarray of shape (n, 3)
        Cartesian positions relative to the region's centre, Angstrom.
    numbers : ndarray of shape (n,)
        Atomic numbers.
    n_atoms : int
        Size of a pristine cluster.

    Returns
    -------
    cluster : Cluster
    members : ndarray of int
        Indices (into ``positions``) of the cluster's atoms.
    on_lattice : float
        Share of the cluster's atoms within :data:`~skcrystal._cluster.BLOB_RADIUS`
        nearest-neighbour distances of a site of the region's lattice: about 1 for a region of
        one crystal (also a hot or vacant one), less for one astride a grain boundary, 0
        without a lattice.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(*[np.arange(-6, 7)] * 3, indexing="ij"), -1).reshape(-1, 3)
    >>> bcc = 2.87 * np.concatenate([grid, grid + 0.5])
    >>> region = bcc[np.linalg.norm(bcc, axis=1) < 12]
    >>> cluster, members, on_lattice = region_cluster(region, np.full(len(region), 26), 100)
    >>> len(members), round(cluster.scale, 3), on_lattice
    (89, 2.485, 1.0)
    """
    positions = np.asarray(positions, dtype=float)
    numbers = np.asarray(numbers)
    radii = np.linalg.norm(positions, axis=1)
    order = np.argsort(radii, kind="stable")
    scale = median_neighbour_distance(positions[order[:n_atoms]])
    primitive, basis = finite_lattice(positions, np.zeros(3)), None
    if primitive is not None:
        fitted = order[: round(FIT_ATOMS_PER_CLUSTER_ATOM * n_atoms)]
        primitive, basis = _refined(positions[fitted], primitive, BLOB_RADIUS * scale)
    frame = np.eye(3) if primitive is None else canonical_frame(primitive)
    rotation = _nearest_rotation(frame.T)
    centre, size = np.zeros(3), n_atoms
    if primitive is not None:
        ideal = nearest_distance(primitive, basis) if len(basis) <= MAX_BASIS_ATOMS else 0.0
        if IDEAL_RANGE[0] * scale <= ideal <= IDEAL_RANGE[1] * scale:
            scale = ideal
            centre = (
                central_site(primitive, primitive, basis, scale, rotation, middle=np.zeros(3))
                @ primitive
            )
            size = max(
                MIN_CLUSTER,
                round(
                    n_atoms * _occupancy(radii, abs(np.linalg.det(primitive)) / len(basis), n_atoms)
                ),
            )
    distances = np.linalg.norm(positions - centre, axis=1)
    order = np.argsort(distances, kind="stable")
    members = order[: whole_shells(distances[order], size)]
    on_lattice = (
        0.0
        if basis is None or len(basis) > MAX_BASIS_ATOMS
        else _on_lattice(positions[members], primitive, basis, BLOB_RADIUS * scale)
    )
    cluster = positions[members]
    cluster = (cluster - cluster.mean(axis=0)) / scale
    return Cluster(cluster @ frame, numbers[members], rotation, scale), members, on_lattice


def _on_lattice(positions, primitive, basis, tolerance):
    """Share of the atoms within ``tolerance`` of a site (``basis`` + lattice vectors)."""
    offsets = (positions @ np.linalg.inv(primitive))[:, None, :] - basis[None, :, :]
    offsets -= np.round(offsets)
    distances = np.linalg.norm(offsets @ primitive, axis=2).min(axis=1)
    return float(np.mean(distances < tolerance))


def _occupancy(radii, site_volume, n_atoms):
    """Share of the sites occupied within the radius of a pristine ``n_atoms`` cluster.

    Counted within that radius or the region's own, whichever is smaller (a region cut
    smaller than the cluster is not a vacant one).
    """
    reach = min((3 * n_atoms * site_volume / (4 * np.pi)) ** (1 / 3), radii.max())
    sites = 4 * np.pi * reach**3 / (3 * site_volume)
    return min(1.0, np.count_nonzero(radii <= reach) / sites)


def _refined(positions, primitive, tolerance):
    """The lattice fitted to the atoms near its basis sites (least squares; rows), and the
    basis sites (fractional, in that lattice).

    ``r = n @ lattice + c_s`` for an atom in cell ``n`` at basis site ``s``: linear in the
    lattice and the site offsets ``c_s``.
    """
    frac = positions @ np.linalg.inv(primitive)
    basis = ideal_basis(primitive, frac, primitive, tolerance)
    if len(basis) > MAX_BASIS_ATOMS:
        return primitive, basis
    offsets = frac[:, None, :] - basis[None, :, :]
    cells = np.round(offsets)
    distances = np.linalg.norm((offsets - cells) @ primitive, axis=2)
    site = distances.argmin(axis=1)
    close = distances[np.arange(len(frac)), site] < tolerance
    design = np.hstack([cells[np.arange(len(frac)), site], np.eye(len(basis))[site]])[close]
    if np.linalg.matrix_rank(design) < design.shape[1]:
        return primitive, basis
    solution = np.linalg.lstsq(design, positions[close], rcond=None)[0]
    fitted = solution[:3]
    if not np.linalg.det(fitted) > 0:
        return primitive, basis
    sites = solution[3:] @ np.linalg.inv(fitted)
    return fitted, sites - np.floor(sites)
