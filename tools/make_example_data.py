"""Write the example structures shipped in ``skcrystal/data/examples`` (run once, seeded).

Real elemental crystals with their experimental lattice constants, one per class, written
in different cells and formats, and a few defective copies, as users would have them.

    python tools/make_example_data.py
"""

from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from scipy.spatial.transform import Rotation

TARGET = Path(__file__).resolve().parents[1] / "skcrystal" / "data" / "examples"


def main():
    rng = np.random.default_rng(20181)
    TARGET.mkdir(parents=True, exist_ok=True)
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.615), ["Cu"], [[0, 0, 0]])
    fe = Structure.from_spacegroup("Im-3m", Lattice.cubic(2.8665), ["Fe"], [[0, 0, 0]])
    po = Structure(Lattice.cubic(3.359), ["Po"], [[0, 0, 0]])
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]])
    mg = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.209, 5.211), ["Mg"], [[1 / 3, 2 / 3, 0.25]])
    in_ = Structure.from_spacegroup("I4/mmm", Lattice.tetragonal(3.2523, 4.9461), ["In"], [[0, 0, 0]])
    sn = Structure.from_spacegroup("I4_1/amd", Lattice.tetragonal(5.8318, 3.1818), ["Sn"], [[0, 0, 0]])

    cu.to(filename=str(TARGET / "Cu_fcc.cif"))
    fe.to(filename=str(TARGET / "Fe_bcc.vasp"), fmt="poscar")
    po.to(filename=str(TARGET / "Po_sc.cif"))
    si.get_primitive_structure().to(filename=str(TARGET / "Si_diam_primitive.vasp"), fmt="poscar")
    mg.to(filename=str(TARGET / "Mg_hex.cif"))
    in_.to(filename=str(TARGET / "In_bct139.cif"))
    sn.to(filename=str(TARGET / "Sn_bct141.cif"))

    # Cu, 4x4x4 conventional supercell (256 sites) with 20 % vacancies, turned at random.
    big = cu.copy()
    big.make_supercell([4, 4, 4])
    big.remove_sites(sorted(rng.choice(len(big), size=51, replace=False).tolist()))
    turn = Rotation.random(random_state=1).as_matrix()
    turned = Structure(Lattice(big.lattice.matrix @ turn.T), big.species, big.frac_coords)
    turned.to(filename=str(TARGET / "Cu_fcc_vacancies_rotated.cif"))

    # Fe, 5x5x5 conventional supercell (250 atoms) with Gaussian displacements, 0.05 A.
    hot = fe.copy()
    hot.make_supercell([5, 5, 5])
    coords = hot.cart_coords + rng.normal(0.0, 0.05, (len(hot), 3))
    hot = Structure(hot.lattice, hot.species, coords, coords_are_cartesian=True)
    AseAtomsAdaptor.get_atoms(hot).write(TARGET / "Fe_bcc_thermal.extxyz")


if __name__ == "__main__":
    main()
