"""Accuracy of the spglib baseline on defective crystals, at the paper's defect levels.

A test set of pristine crystals from ``make_prototype_dataset`` (random cells and rotations)
is made defective with the package's own tools, each crystal first expanded to a supercell of
at least 256 atoms: Gaussian displacements (sigma per Cartesian component) and vacancies
(fraction of atoms removed). SpglibBaseline classifies them at the paper's three settings.
Prints a Markdown table of accuracies (%).

    python benchmarks/spglib_baseline.py [--n-per-class 10] [--n-jobs 2] [--random-state 2018]
"""

import argparse
import time

import numpy as np
from joblib import Parallel, delayed

from skcrystal import SpglibBaseline
from skcrystal.baseline import SETTINGS
from skcrystal.datasets import make_prototype_dataset
from skcrystal.defects import Displacements, Vacancies

SIGMAS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.10)
VACANCIES = (0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60, 0.70)


def _predict(structures, symprec, angle):
    return SpglibBaseline(symprec=symprec, angle_tolerance=angle).fit().predict(structures)


def accuracy(structures, labels, setting, n_jobs):
    symprec, angle = SETTINGS[setting]
    chunks = np.array_split(np.arange(len(structures)), max(1, 4 * (n_jobs or 1)))
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_predict)([structures[i] for i in chunk], symprec, angle) for chunk in chunks if len(chunk)
    )
    return 100.0 * float(np.mean(np.concatenate(parts) == labels))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, default=10)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--random-state", type=int, default=2018)
    args = parser.parse_args()

    start = time.perf_counter()
    structures, labels = make_prototype_dataset(args.n_per_class, random_state=args.random_state, n_jobs=args.n_jobs)
    levels = [("pristine", None)]
    levels += [(f"sigma {s:g} A", Displacements(sigma=s, random_state=args.random_state)) for s in SIGMAS]
    levels += [(f"vac. {v:.0%}", Vacancies(fraction=v, random_state=args.random_state)) for v in VACANCIES]
    table = {setting: [] for setting in SETTINGS}
    for _, generator in levels:
        defective = structures if generator is None else generator.transform(structures)
        for setting in SETTINGS:
            table[setting].append(accuracy(defective, labels, setting, args.n_jobs))

    print(f"# SpglibBaseline accuracy (%) on {len(structures)} crystals ({args.n_per_class} per class),")
    print(f"# defects on supercells of >= 256 atoms, random_state={args.random_state}, {time.perf_counter() - start:.0f} s")
    settings = [f"{name} ({SETTINGS[name][0]:g} A, {SETTINGS[name][1]:g} deg)" for name in SETTINGS]
    print("| defects | " + " | ".join(settings) + " |")
    print("|---|" + "---:|" * len(settings))
    for row, (name, _) in enumerate(levels):
        print(f"| {name} | " + " | ".join(f"{table[s][row]:.0f}" for s in SETTINGS) + " |")


if __name__ == "__main__":
    main()
