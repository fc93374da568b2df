"""Physics kernels: geometry, form factors, the structure-factor sum, hand-computable peaks."""

import numpy as np
import pytest
import torch

from skcrystal import DiffractionFingerprint, _diffraction
from skcrystal._cluster import Cluster

WAVELENGTH, DISTANCE, PIXEL, N = 5e-12, 0.1, 4e-4, 64


def test_pixels_lie_on_the_ewald_sphere():
    h, omega = _diffraction.detector(WAVELENGTH, DISTANCE, PIXEL, N)
    k_in = np.array([0.0, 0.0, 1e-10 / WAVELENGTH])
    # Elastic scattering: |k_in + H| = |k_in| for every pixel.
    np.testing.assert_allclose(np.linalg.norm(h + k_in, axis=-1), k_in[2], rtol=1e-12)
    # |H| = 2 sin(theta) / lambda with 2 theta the angle to the beam.
    x = (np.arange(N) - (N - 1) / 2) * PIXEL
    two_theta = np.arctan(np.hypot(*np.meshgrid(x, x, indexing="ij")) / DISTANCE)
    np.testing.assert_allclose(
        np.linalg.norm(h, axis=-1), 2 * np.sin(two_theta / 2) * 1e-10 / WAVELENGTH
    )
    # Small pixels far away: solid angle close to p^2 / D^2 in the middle.
    assert omega.max() == pytest.approx(PIXEL**2 / DISTANCE**2, rel=1e-3)


def test_rotations_are_proper_and_paired():
    rots = _diffraction.rotations(45.0)
    for rot in rots:
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rot) == pytest.approx(1.0)
    for axis in range(3):
        np.testing.assert_allclose(rots[2 * axis] @ rots[2 * axis + 1], np.eye(3), atol=1e-12)
        np.testing.assert_allclose(rots[2 * axis][axis], np.eye(3)[axis])


def test_form_factors_start_at_z_and_decrease():
    s = np.linspace(0, 1.5, 50)
    f = _diffraction.form_factors([1, 29, 31, 98], s)
    np.testing.assert_allclose(f[:, 0], [1, 29, 31, 98], atol=0.05)
    assert np.all(np.diff(f, axis=1) < 0)
    assert np.all(f > 0)


def test_shipped_form_factor_table_is_periodictables():
    # The table in skcrystal/data spares every process the import of periodictable.
    import periodictable
    from periodictable.cromermann import getCMformula

    for z in range(1, 119):
        try:
            formula = getCMformula(periodictable.elements[z].symbol)
        except KeyError:
            assert not _diffraction.has_form_factor(z)
            continue
        a, b, c = _diffraction._coefficients(z)
        assert a.tolist() == list(map(float, formula.a))
        assert b.tolist() == list(map(float, formula.b))
        assert c == float(formula.c)
    assert not _diffraction.has_form_factor(0) and not _diffraction.has_form_factor(119)


def _numpy_sums(q, positions, weights):
    phase = np.einsum("kd,bnd->bnk", q, positions)
    return np.einsum("bns,bnk->bks", weights, np.cos(phase)), np.einsum(
        "bns,bnk->bks", weights, np.sin(phase)
    )


def test_eager_kernel_matches_a_float64_reference():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5000, 3)) * 10
    positions = rng.normal(size=(2, 40, 3)) * 3
    weights = np.zeros((2, 40, 2))
    weights[:, :25, 0] = 1
    weights[:, 25:35, 1] = 1  # five padding atoms with zero weight
    real, imag = _diffraction.phase_sums_eager(
        torch.tensor(q), torch.tensor(positions), torch.tensor(weights)
    )
    ref_real, ref_imag = _numpy_sums(q, positions, weights)
    np.testing.assert_allclose(real.numpy(), ref_real, atol=1e-9)
    np.testing.assert_allclose(imag.numpy(), ref_imag, atol=1e-9)


def test_eager_kernel_sums_groups_of_interleaved_atoms_and_empty_groups():
    # Atoms of the groups (regions x species) in any order, one group empty, padding between,
    # and more atoms than a block holds pixels (the atom-major branch).
    rng = np.random.default_rng(3)
    q = rng.normal(size=(700, 3)) * 4
    positions = rng.normal(size=(2, 3000, 3)) * 5
    weights = np.zeros((2, 3000, 4))
    group = rng.integers(0, 3, size=(2, 3000))  # group 3 stays empty
    for b in range(2):
        weights[b, np.arange(3000), group[b]] = 1
    weights[:, ::7] = 0  # padding rows
    real, imag = _diffraction.phase_sums_eager(
        torch.tensor(q), torch.tensor(positions), torch.tensor(weights)
    )
    ref_real, ref_imag = _numpy_sums(q, positions, weights)
    np.testing.assert_allclose(real.numpy(), ref_real, atol=1e-8)
    np.testing.assert_allclose(imag.numpy(), ref_imag, atol=1e-8)
    assert not real[:, :, 3].any()


def test_compiled_kernel_matches_the_eager_one():
    rng = np.random.default_rng(1)
    q = torch.tensor(rng.normal(size=(4096, 3)) * 10, dtype=torch.float32)
    positions = torch.tensor(rng.normal(size=(64, 3)) * 3, dtype=torch.float32)
    weights = torch.zeros(64, 1)
    weights[:50] = 1
    real, imag = _diffraction.compiled_phase_sums()(q, positions, weights, weights)
    ref_real, ref_imag = _diffraction.phase_sums_eager(q, positions[None], weights[None])
    np.testing.assert_allclose(real.numpy(), ref_real[0].numpy(), atol=2e-3)
    np.testing.assert_allclose(imag.numpy(), ref_imag[0].numpy(), atol=2e-3)


def _simple_cubic_cluster(radius=4.0):
    grid = np.arange(-6, 7)
    points = (
        np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3).astype(float)
    )
    points = points[np.linalg.norm(points, axis=1) <= radius]
    return Cluster(points, np.full(len(points), 29), np.eye(3), 1.0)


def test_simple_cubic_peaks_sit_where_the_ewald_geometry_puts_them():
    # Simple cubic, a = 1 A (the nearest-neighbour scaling), turned +-45 degrees about x.
    # Reciprocal point G = (1, 0, 0) / A stays in the detector plane; the Ewald sphere point
    # nearest it lies along k_in + G, i.e. at x = D * lambda * |G| = 5 mm = 12.5 pixels.
    # (0, 1, -1) turned by +45 degrees about x becomes (0, sqrt 2, 0): y = 12.5 sqrt(2) pixels.
    fp = DiffractionFingerprint(compile=False)
    image = fp.render([_simple_cubic_cluster()])[0, 0]  # the x channel
    centre = (N - 1) / 2
    lam_d_over_p = WAVELENGTH * 1e10 * DISTANCE / PIXEL
    for direction, g in [
        ((1, 0), 1.0),
        ((-1, 0), 1.0),
        ((0, 1), np.sqrt(2)),
        ((0, -1), np.sqrt(2)),
    ]:
        r = lam_d_over_p * g
        expected = np.array([centre + direction[0] * r, centre + direction[1] * r])
        # Brightest pixel in a window around the prediction, on the peak's axis.
        lo = np.floor(expected - 3).astype(int)
        window = image[lo[0] : lo[0] + 7, lo[1] : lo[1] + 7]
        found = np.array(np.unravel_index(np.argmax(window), window.shape)) + lo
        assert np.all(np.abs(found - expected) <= 0.5 + 1e-9), (direction, found, expected)
        assert window.max() > 0.3


def test_image_is_centred_masked_and_scaled():
    fp = DiffractionFingerprint(compile=False, beam_stop_radius=5)
    image = fp.render([_simple_cubic_cluster()])[0]
    centre = (N - 1) / 2
    i, j = np.meshgrid(np.arange(N) - centre, np.arange(N) - centre, indexing="ij")
    assert np.all(image[:, np.hypot(i, j) <= 5] == 0)
    assert image.max() == 1.0 and image.min() == 0.0
    # Point-symmetric up to the Ewald curvature (a small effect at 5 pm).
    assert np.abs(image - image[:, ::-1, ::-1]).max() < 0.1


def _triclinic_alloy():
    from pymatgen.core import Lattice, Structure

    cell = Lattice.from_parameters(3.1, 3.4, 3.7, 80, 95, 101)
    return Structure(cell, ["Cu", "Fe"], [[0, 0, 0], [0.3, 0.2, 0.6]]) * (5, 5, 5)


def _caesium_chloride():
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(4.1), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]) * (4, 4, 4)


@pytest.mark.parametrize(
    ("angle", "make", "pairs"),
    [
        (45.0, _triclinic_alloy, False),
        (90.0, _triclinic_alloy, False),
        (30.0, _triclinic_alloy, False),
        (45.0, _caesium_chloride, True),
    ],
)
def test_patterns_match_a_direct_float64_sum_over_all_six_rotations(angle, make, pairs):
    # At 45 and 90 degrees the last pattern is the one before it turned on the detector
    # (computed once, not twice); at 30 degrees it is computed. A centrosymmetric cluster is
    # summed over inversion pairs. Every way, it must be the direct sum over all atoms.
    from skcrystal._fingerprinter import _kernel_atoms

    fp = DiffractionFingerprint(compile=False, rotation_angle=angle)
    [cluster] = fp.clusters([make()])
    paired = _kernel_atoms(cluster)[4]
    assert paired.any() == pairs
    ours = fp.patterns([cluster])[0]
    ours = fp.patterns([cluster])[0]

    h, omega = _diffraction.detector(WAVELENGTH, DISTANCE, PIXEL, N)
    pixels = h.reshape(-1, 3)
    kinds = np.unique(cluster.numbers)
    f = _diffraction.form_factors(
        _diffraction.shifted(kinds, 2), np.linalg.norm(pixels, axis=1) / 2
    )
    for r, rot in enumerate(_diffraction.rotations(angle)):
        phase = 2 * np.pi * (pixels @ rot) @ cluster.positions.astype(float).T
        amplitude = sum(
            f[k] * np.exp(-1j * phase[:, cluster.numbers == z]).sum(axis=1)
            for k, z in enumerate(kinds)
        )
        expected = (omega.reshape(-1) * np.abs(amplitude) ** 2).reshape(N, N)
        np.testing.assert_allclose(ours[r], expected, rtol=0, atol=1e-5 * expected.max())


def test_inversion_pairs_are_mutual_within_a_group_and_tight():
    positions = np.array(
        [[0, 0, 0], [1, 2, 3], [-1, -2, -3], [2, 0, 0], [-2, 0, 0], [0, 3, 0], [0, -3, 1e-6]]
    )
    groups = np.array([0, 0, 0, 0, 1, 0, 0])
    keep, paired = _diffraction.inversion_pairs(positions, groups)
    # The atom at the origin is its own image (summed as is); (3, 4) are of two groups; (5, 6)
    # are 1e-6 off, far beyond the tolerance.
    assert keep.tolist() == [True, True, False, True, True, True, True]
    assert paired.tolist() == [False, True, False, False, False, False, False]


def test_eager_kernel_weights_pairs_and_drops_their_sines():
    # Kernel input with inversion pairs (weight 2, no sine) and single atoms of two groups
    # against the direct sum over every atom of the pairs.
    rng = np.random.default_rng(5)
    q = rng.normal(size=(3000, 3)) * 6
    reps = rng.normal(size=(30, 3)) * 4
    singles = rng.normal(size=(20, 3)) * 4
    full = np.concatenate([reps, -reps, singles])[None]
    group = np.concatenate([np.arange(30) % 2, np.arange(30) % 2, np.arange(20) % 2])
    full_weights = np.eye(2)[group][None]
    positions = np.concatenate([reps, singles])[None]
    weights = np.concatenate([2 * np.eye(2)[np.arange(30) % 2], np.eye(2)[np.arange(20) % 2]])
    sine_weights = np.concatenate([np.zeros((30, 2)), np.eye(2)[np.arange(20) % 2]])
    real, imag = _diffraction.phase_sums_eager(
        *(torch.tensor(a) for a in (q, positions, weights[None], sine_weights[None]))
    )
    ref_real, ref_imag = _numpy_sums(q, full, full_weights)
    np.testing.assert_allclose(real.numpy(), ref_real, atol=1e-8)
    np.testing.assert_allclose(imag.numpy(), ref_imag, atol=1e-8)


def test_the_batched_kernel_of_a_gpu_sums_like_the_eager_one():
    # The GPU path is pure torch: run on CPU tensors, with pairs and padding, it must agree.
    rng = np.random.default_rng(6)
    q = torch.tensor(rng.normal(size=(2000, 3)) * 6)
    positions = torch.tensor(rng.normal(size=(2, 50, 3)) * 4)
    weights = torch.zeros(2, 50, 3, dtype=torch.float64)
    weights[:, torch.arange(45), torch.tensor(rng.integers(0, 3, 45))] = 1.0
    weights[:, :10] *= 2.0  # ten atoms that stand for inversion pairs
    sine_weights = weights.clone()
    sine_weights[:, :10] = 0.0
    eager = _diffraction.phase_sums_eager(q, positions, weights, sine_weights)
    batched = _diffraction._phase_sums_batched(q, positions, weights, sine_weights)
    for ours, reference in zip(batched, eager):
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=1e-9)
