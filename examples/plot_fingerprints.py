"""
Diffraction fingerprints of the seven classes, pristine and defective
======================================================================

The paper's Fig. 2 shows the two-dimensional diffraction fingerprint of one crystal of each of
the seven classes, next to the fingerprints of strongly defective versions of the same
crystals. Each fingerprint is an RGB image: the red, green and blue channels hold the
diffraction patterns of a cluster of about 256 atoms turned by +45 and -45 degrees about the
x, y and z axes.

What to look for: every class has its own arrangement of bright spots (Bragg peaks) and the
arrangement is set by the lattice alone, not by the element or the cell the crystal was
written in. Vacancies (here a quarter of the atoms removed) add a faint diffuse background and
leave the peaks where they were; random displacements of the atoms (thermal noise) dim the
peaks far from the centre, the Debye-Waller effect, and leave the inner ones. That is why a ConvNet can
classify defective crystals that a symmetry finder gives up on.
"""

# %%
# One crystal per class
# ---------------------
# :func:`~skcrystal.datasets.make_prototype_dataset` draws an element, a nearest-neighbour
# distance and the free parameters of each class's prototype, and writes the crystal in a
# random cell and orientation; one crystal per class is enough here.

import matplotlib.pyplot as plt

from skcrystal import CLASSES, DiffractionFingerprint, make_prototype_dataset
from skcrystal.defects import Displacements, Vacancies
from skcrystal.plotting import plot_fingerprint

structures, labels = make_prototype_dataset(1, random_state=0)
for structure, label in zip(structures, labels):
    print(f"{label:7s} {structure[0].specie.symbol:2s} {len(structure):3d} atoms in the cell")

# %%
# Defective copies
# ----------------
# The defect generators first expand each crystal to a supercell of at least 256 atoms, then
# remove 25 % of the atoms, or displace every atom by Gaussian noise of 0.06 Angstrom per
# Cartesian component.

vacancies = Vacancies(fraction=0.25, random_state=0).transform(structures)
displaced = Displacements(sigma=0.06, random_state=0).transform(structures)

fingerprint = DiffractionFingerprint()
rows = {
    "pristine": fingerprint.transform(structures),
    "25 % vacancies": fingerprint.transform(vacancies),
    "displacements\n$\\sigma$ = 0.06 $\\AA$": fingerprint.transform(displaced),
}
print("images:", rows["pristine"].shape, rows["pristine"].dtype)

# %%
# The seven classes
# -----------------
# One column per class, one row per kind of defect.

fig, axes = plt.subplots(3, len(CLASSES), figsize=(14, 6.4), constrained_layout=True)
for row, (name, images) in zip(axes, rows.items()):
    for ax, image, label in zip(row, images, labels):
        plot_fingerprint(
            image, axes=[ax], channels=False, title=label if name == "pristine" else ""
        )
    row[0].set_ylabel(name)
fig.suptitle("Diffraction fingerprints (RGB: rotations about x, y, z)")

# %%
# The three channels of one fingerprint
# -------------------------------------
# The channels of the bcc crystal, pristine (top) and with 25 % vacancies (bottom): the same
# peaks, on a noisier background.

bcc = list(labels).index("bcc")
fig, axes = plt.subplots(2, 4, figsize=(10, 5.4), constrained_layout=True)
plot_fingerprint(rows["pristine"][bcc], axes=axes[0], title="bcc, pristine")
plot_fingerprint(rows["25 % vacancies"][bcc], axes=axes[1], title="bcc, 25 % vacancies")
plt.show()
