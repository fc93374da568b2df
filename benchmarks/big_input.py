"""Big simulation boxes: time and peak memory of one fingerprint, per box size.

Each box is a cubic supercell of bcc iron, optionally with vacancies and Gaussian
displacements (seeded), given as an ASE ``Atoms`` (as an MD snapshot in memory would be) or
as a file (``--format extxyz``, ``lmp``, ``vasp``). It is fingerprinted in a fresh process, so
the peak resident memory is that box's alone (imports and, for ``atoms``, the box itself
included). Reported: the time of ``transform``, the peak memory, the largest pixel difference
to the image of the pristine unit cell, and the class the shipped model gives the box.

    python benchmarks/big_input.py [--repeats 8 20 40 80] [--vacancies 0.1] [--sigma 0.05]
                                   [--format atoms]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
import numpy as np
from ase.build import bulk
from skcrystal import DiffractionFingerprint, load_pretrained
sys.path.insert(0, sys.argv[2])
from big_input import make_box
item = sys.argv[1]
if item.startswith("atoms:"):
    item = make_box(*json.loads(item[len("atoms:"):]))
fingerprint = DiffractionFingerprint(compile=False)
start = time.perf_counter()
image = fingerprint.transform([item])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
reference = fingerprint.transform([bulk("Fe", "bcc", a=2.87)])
label = load_pretrained()[-1].predict(image)[0]
print(json.dumps({
    "seconds": round(seconds, 2),
    "peak_rss_mb": peak,
    "max_diff_to_unit_cell": float(np.abs(image - reference).max()),
    "label": str(label),
}))
"""


def make_box(n, vacancies, sigma):
    """bcc Fe, n x n x n conventional cells, with vacancies and displacements (seed 0)."""
    import numpy as np
    from ase.build import bulk

    atoms = bulk("Fe", "bcc", a=2.87, cubic=True).repeat((n, n, n))
    rng = np.random.default_rng(0)
    if vacancies:
        del atoms[rng.random(len(atoms)) < vacancies]
    atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
    return atoms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, nargs="+", default=[8, 20, 40, 80])
    parser.add_argument("--vacancies", type=float, default=0.0, help="fraction of atoms removed")
    parser.add_argument("--sigma", type=float, default=0.0, help="Gaussian displacements, Angstrom")
    parser.add_argument("--format", default="atoms", choices=("atoms", "extxyz", "lmp", "vasp"))
    args = parser.parse_args()
    print(
        f"# bcc Fe boxes as {args.format}, vacancies {args.vacancies}, displacements sigma {args.sigma} A"
    )
    print("| atoms | seconds | peak memory (MB) | max image difference to the unit cell | class |")
    print("|---:|---:|---:|---:|---|")
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as folder:
        for n in args.repeats:
            box = make_box(n, args.vacancies, args.sigma)
            item = "atoms:" + json.dumps([n, args.vacancies, args.sigma])
            if args.format != "atoms":
                item = os.path.join(
                    folder, "POSCAR" if args.format == "vasp" else f"box.{args.format}"
                )
                box.write(item, format={"lmp": "lammps-data"}.get(args.format, args.format))
            out = subprocess.run(
                [sys.executable, "-c", CHILD, item, here],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {len(box):,} | {row['seconds']} | {row['peak_rss_mb']} | "
                f"{row['max_diff_to_unit_cell']:.1e} | {row['label']} |"
            )


if __name__ == "__main__":
    main()
