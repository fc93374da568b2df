"""The paper's Table 1: accuracy on defective crystals, shipped model against spglib.

A test set of pristine crystals from ``make_prototype_dataset`` (random cells and rotations;
``random_state`` 2018, disjoint from the shipped model's training crystals, made with seed 0)
is made defective with the package's own tools, each crystal first expanded to a supercell of
at least 256 atoms: Gaussian displacements (sigma per Cartesian component), vacancies
(fraction of atoms removed) and random substitutions (binary: Ni; ternary: Ni and Co).
The shipped model (``load_pretrained``) and SpglibBaseline at the paper's three settings
classify them. Prints a Markdown table of accuracies (%).

    python benchmarks/defects.py [--n-per-class 10] [--n-jobs 2] [--random-state 2018] [--no-model]
"""

import argparse
import time

import numpy as np
from joblib import Parallel, delayed

from skcrystal import SpglibBaseline, load_pretrained
from skcrystal.baseline import SETTINGS
from skcrystal.datasets import make_prototype_dataset
from skcrystal.defects import Displacements, Substitutions, Vacancies

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
    parser.add_argument("--no-model", action="store_true", help="spglib columns only")
    args = parser.parse_args()
    model = None if args.no_model else load_pretrained()
    model_name = "this work (shipped model)"

    start = time.perf_counter()
    structures, labels = make_prototype_dataset(args.n_per_class, random_state=args.random_state, n_jobs=args.n_jobs)
    levels = [("pristine", None)]
    levels += [(f"sigma {s:g} A", Displacements(sigma=s, random_state=args.random_state)) for s in SIGMAS]
    levels += [(f"vac. {v:.0%}", Vacancies(fraction=v, random_state=args.random_state)) for v in VACANCIES]
    levels += [
        (f"binary {f:.0%} Ni", Substitutions(fraction=f, species="Ni", random_state=args.random_state))
        for f in (0.25, 0.5)
    ]
    levels += [("ternary 50% Ni+Co", Substitutions(fraction=0.5, species=["Ni", "Co"], random_state=args.random_state))]
    table = {setting: [] for setting in ([model_name] if model else []) + list(SETTINGS)}
    for _, generator in levels:
        defective = structures if generator is None else generator.transform(structures)
        if model is not None:
            table[model_name].append(100.0 * float(np.mean(model.predict(defective) == labels)))
        for setting in SETTINGS:
            table[setting].append(accuracy(defective, labels, setting, args.n_jobs))

    print(f"# Accuracy (%) on {len(structures)} crystals ({args.n_per_class} per class),")
    print(f"# defects on supercells of >= 256 atoms, random_state={args.random_state}, {time.perf_counter() - start:.0f} s")
    titles = [
        f"spglib {name} ({SETTINGS[name][0]:g} A, {SETTINGS[name][1]:g} deg)" if name in SETTINGS else name
        for name in table
    ]
    print("| defects | " + " | ".join(titles) + " |")
    print("|---|" + "---:|" * len(titles))
    for row, (name, _) in enumerate(levels):
        print(f"| {name} | " + " | ".join(f"{values[row]:.1f}" for values in table.values()) + " |")


if __name__ == "__main__":
    main()
