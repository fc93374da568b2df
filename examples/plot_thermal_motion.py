"""
Thermal motion is correlated: phonons, satellites and the canonical frame
=========================================================================

Atoms in a hot crystal do not jiggle independently: long-wavelength phonons move whole
regions together. In a periodic simulation box only the waves that fit the box exist, and
each one puts a pair of weak satellite peaks beside every Bragg peak, at ``G +- q``.
Independent Gaussian displacements (:class:`~skcrystal.defects.Displacements`) damp the Bragg
peaks by the same Debye-Waller factor but make no satellites at all.
:class:`~skcrystal.defects.ThermalDisplacements` draws the harmonic phonons of a Debye solid
that the box allows, so it shows what molecular dynamics shows.

Satellites matter because skcrystal finds a crystal's lattice from its Bragg peaks: a lattice
spanned by every peak above a threshold, satellites included, is far too fine (a "primitive"
cell hundreds of times too large). The lattice is instead grown from the strongest peaks and
refined only by peaks whose refinement is borne out by the other lattice points (see the user
guide). What to look for below: at the same root-mean-square displacement (0.1 Angstrom) the
(200) Bragg peak is damped alike (0.95 of its height), but 118 points off the crystal's
reciprocal lattice stand above the 0.1 floor of the lattice search in the thermal box,
against 2 for Gaussian noise; and every crystal keeps its class up to a Lindemann ratio of
0.12 (solids melt near 0.1 to 0.15).
"""

# %%
# One aluminium box, two kinds of disorder
# ----------------------------------------
# A 4 x 4 x 4 supercell of fcc Al (256 atoms), displaced by 0.1 Angstrom per Cartesian
# component in both cases. The structure factor with unit weights,
# ``|F(hkl)| = |mean_j exp(-2 pi i (h x_j + k y_j + l z_j))|``, at every Miller index of the box
# up to 12. The crystal's reflections are the box indices that are 4 times the cube's fcc
# reflections (h, k, l all even or all odd); every other point is off its reciprocal lattice.

import matplotlib.pyplot as plt
import numpy as np
from pymatgen.core import Lattice, Structure

from skcrystal import load_pretrained
from skcrystal.defects import Displacements, ThermalDisplacements

al = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.05), ["Al"], [[0, 0, 0]])
box = al * (4, 4, 4)
thermal = ThermalDisplacements(rms=0.1, min_atoms=1, random_state=0).transform([box])[0]
gaussian = Displacements(sigma=0.1, min_atoms=1, random_state=0).transform([box])[0]

indices = np.stack(np.meshgrid(*[np.arange(-12, 13)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
cube = indices / 4  # Miller indices of the conventional cube
on_lattice = np.all(cube == np.round(cube), axis=1) & (np.ptp(np.round(cube) % 2, axis=1) == 0)
off = ~on_lattice

fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
for structure, name in [(gaussian, "independent Gaussian"), (thermal, "Debye phonons")]:
    amplitude = np.abs(np.exp(-2j * np.pi * structure.frac_coords @ indices.T).mean(axis=0))
    print(
        f"{name}: {np.count_nonzero(amplitude[off] > 0.1)} points off the lattice above 0.1, "
        f"largest {amplitude[off].max():.3f}; (200) peak {amplitude[np.all(indices == [8, 0, 0], axis=1)][0]:.3f}"
    )
    ax.hist(amplitude[off], bins=np.linspace(0, 0.4, 41), histtype="step", log=True, label=name)
ax.axvline(0.1, color="black", linestyle=":", label="peak floor of the lattice search")
ax.set_xlabel("|F| at Miller indices off the crystal's reciprocal lattice")
ax.set_ylabel("points")
ax.legend(fontsize="small")
ax.set_title("Diffuse scattering and satellites, fcc Al, rms 0.1 A")
plt.show()

# %%
# The class at rising temperature
# -------------------------------
# Boxes of about 250 to 500 atoms of fcc Al, bcc Fe, hcp Mg and diamond Si, displaced by
# Debye phonons at Lindemann ratios (three-dimensional rms displacement over the
# nearest-neighbour distance) from 0.02 to 0.12, classified by the shipped model.

crystals = {
    "fcc": al,
    "bcc": Structure.from_spacegroup("Im-3m", Lattice.cubic(2.87), ["Fe"], [[0, 0, 0]]),
    "hex/rh": Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]]
    ),
    "diam": Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]),
}
ratios = [0.02, 0.04, 0.06, 0.08, 0.10, 0.12]
model = load_pretrained()
print("Lindemann " + " ".join(f"{label:>7s}" for label in crystals))
for ratio in ratios:
    hot = [
        ThermalDisplacements(lindemann=ratio, random_state=1).transform([s])[0]
        for s in crystals.values()
    ]
    print(f"{ratio:9.2f} " + " ".join(f"{label:>7s}" for label in model.predict(hot)))
