"""The paper's Table 1 and Supplementary Tables 1-2: accuracy on defective crystals.

A test set of pristine crystals from ``make_prototype_dataset`` (random cells and rotations;
``random_state`` 2018, disjoint from the training crystals, made with seed 0) is made
defective with the package's own tools, each crystal first expanded to a supercell of at
least 256 atoms: Gaussian displacements (sigma per Cartesian component), vacancies (fraction
of atoms removed) and random substitutions (binary: Ni; ternary: Ni and Co). Each model
(default: the shipped one) and SpglibBaseline at the paper's three settings classify them.

Prints Markdown tables of accuracies (%): Table 1 (models, spglib loose and the paper's
numbers as quoted in issue #4), Supplementary Table 1 (displacements) and 2 (vacancies and
substitutions) with spglib at all three settings, and per-class accuracies of each model.

    python benchmarks/defects.py [--n-per-class 30] [--model NAME=DIR ...] [--plot FILE.png] [--json FILE]
    python benchmarks/defects.py --merge A.json B.json [--plot FILE.png]   # tables of earlier runs

``--merge`` joins the columns of runs made on the same test set (same ``--n-per-class`` and
``--random-state``), e.g. a second model run with ``--no-spglib``.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from skcrystal import SpglibBaseline, load_pretrained
from skcrystal.baseline import SETTINGS
from skcrystal.datasets import make_prototype_dataset
from skcrystal.defects import Displacements, Substitutions, Vacancies

SIGMAS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.10)
VACANCIES = (0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60, 0.70)

#: The paper's accuracies of its network as issue #4 quotes them (100 % up to sigma 0.06 A and
#: up to 40 % vacancies, 97 % at 60 %, 89 % at 70 %); other rows are not quoted there.
PAPER = {f"sigma {s:g} A": 100.0 for s in SIGMAS if s <= 0.06}
PAPER |= {f"vac. {v:.0%}": 100.0 for v in VACANCIES if v <= 0.40}
PAPER |= {"vac. 60%": 97.0, "vac. 70%": 89.0}


def levels(random_state):
    """``(row name, group, generator or None)`` for every row of the tables."""
    rows = [("pristine", "pristine", None)]
    rows += [
        (f"sigma {s:g} A", "displacements", Displacements(sigma=s, random_state=random_state))
        for s in SIGMAS
    ]
    rows += [
        (f"vac. {v:.0%}", "vacancies", Vacancies(fraction=v, random_state=random_state))
        for v in VACANCIES
    ]
    rows += [
        (
            f"binary {f:.0%} Ni",
            "substitutions",
            Substitutions(fraction=f, species="Ni", random_state=random_state),
        )
        for f in (0.25, 0.5)
    ]
    ternary = Substitutions(fraction=0.5, species=["Ni", "Co"], random_state=random_state)
    return rows + [("ternary 50% Ni+Co", "substitutions", ternary)]


def _spglib(structures, symprec, angle):
    return SpglibBaseline(symprec=symprec, angle_tolerance=angle).fit().predict(structures)


def spglib_predict(structures, setting, n_jobs):
    symprec, angle = SETTINGS[setting]
    chunks = [
        c for c in np.array_split(np.arange(len(structures)), max(1, 4 * (n_jobs or 1))) if len(c)
    ]
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_spglib)([structures[i] for i in c], symprec, angle) for c in chunks
    )
    return np.concatenate(parts)


def load_models(specs):
    """``{name: pipeline}`` from ``NAME=DIR`` specs; none given: the shipped model."""
    if not specs:
        return {"this work (shipped)": load_pretrained()}
    models = {}
    for spec in specs:
        name, _, folder = spec.partition("=")
        models[name] = load_pretrained(folder)
    return models


def run(n_per_class, random_state, models, n_jobs, spglib=True):
    """Accuracies ``{column: {row: %}}``, per-class accuracies and timings."""
    structures, labels = make_prototype_dataset(
        n_per_class, random_state=random_state, n_jobs=n_jobs
    )
    columns = list(models) + ([f"spglib {s}" for s in SETTINGS] if spglib else [])
    accuracy = {column: {} for column in columns}
    per_class = {name: {} for name in models}
    seconds = {"defects": 0.0, "fingerprints": 0.0, "networks": 0.0, "spglib": 0.0}
    for row, _, generator in levels(random_state):
        start = time.perf_counter()
        defective = structures if generator is None else generator.transform(structures)
        seconds["defects"] += time.perf_counter() - start
        images = {}
        for name, model in models.items():
            fingerprint = model.named_steps["fingerprint"].set_params(n_jobs=n_jobs)
            key = json.dumps(fingerprint.get_params(), sort_keys=True, default=str)
            if key not in images:
                start = time.perf_counter()
                images[key] = fingerprint.transform(defective)
                seconds["fingerprints"] += time.perf_counter() - start
            start = time.perf_counter()
            classifier = model.named_steps["classifier"]
            # The network's own answer (the nearest class): the reject option is measured by
            # benchmarks/unknown.py.
            predicted = classifier.classes_[classifier.predict_proba(images[key]).argmax(axis=1)]
            seconds["networks"] += time.perf_counter() - start
            accuracy[name][row] = 100.0 * float(np.mean(predicted == labels))
            per_class[name][row] = {
                c: 100.0 * float(np.mean(predicted[labels == c] == c)) for c in np.unique(labels)
            }
        if spglib:
            start = time.perf_counter()
            for setting in SETTINGS:
                predicted = spglib_predict(defective, setting, n_jobs)
                accuracy[f"spglib {setting}"][row] = 100.0 * float(np.mean(predicted == labels))
            seconds["spglib"] += time.perf_counter() - start
    return {
        "n_crystals": len(structures),
        "n_per_class": n_per_class,
        "random_state": random_state,
        "accuracy": accuracy,
        "per_class": per_class,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def _table(title, rows, columns, values):
    lines = [
        f"**{title}**",
        "",
        "| defects | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in rows:
        cells = [f"{values[c][row]:.1f}" if row in values[c] else "–" for c in columns]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(result):
    """Table 1, Supplementary Tables 1-2 and per-class tables as Markdown."""
    accuracy = dict(result["accuracy"])
    accuracy["paper (network)"] = PAPER
    models = list(result["per_class"])
    spglib = [c for c in accuracy if c.startswith("spglib")]
    rows = [row for row, _, _ in levels(0)]
    groups = {group: [row for row, g, _ in levels(0) if g == group] for _, group, _ in levels(0)}
    n = result["n_crystals"]
    out = [
        f"Accuracy (%) on {n} test crystals ({result['n_per_class']} per class, random_state="
        f"{result['random_state']}); 1 crystal = {100 / n:.2f} %. spglib settings: "
        + ", ".join(f"{s} = {SETTINGS[s][0]:g} A / {SETTINGS[s][1]:g} deg" for s in SETTINGS)
        + ".\n",
        _table(
            "Table 1",
            rows,
            models + [c for c in spglib if c.endswith("loose")] + ["paper (network)"],
            accuracy,
        ),
        _table(
            "Supplementary Table 1: displacements",
            groups["pristine"] + groups["displacements"],
            models + spglib,
            accuracy,
        ),
        _table(
            "Supplementary Table 2: vacancies and substitutions",
            groups["vacancies"] + groups["substitutions"],
            models + spglib,
            accuracy,
        ),
    ]
    for name in models:
        classes = sorted(next(iter(result["per_class"][name].values())))
        per_class = {c: {row: result["per_class"][name][row][c] for row in rows} for c in classes}
        out.append(_table(f"Per class: {name}", rows, classes, per_class))
    return "\n".join(out)


def plot(result, path):
    """Accuracy against displacement and vacancy fraction, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    accuracy = result["accuracy"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    panels = [
        (
            axes[0],
            [f"sigma {s:g} A" for s in SIGMAS],
            np.array(SIGMAS),
            "Gaussian displacement sigma (Angstrom)",
        ),
        (axes[1], [f"vac. {v:.0%}" for v in VACANCIES], 100 * np.array(VACANCIES), "vacancies (%)"),
    ]
    for ax, rows, x, xlabel in panels:
        for column, values in accuracy.items():
            style = "--" if column.startswith("spglib") else "-"
            ax.plot(x, [values[r] for r in rows], style, marker="o", markersize=3, label=column)
        quoted = [(xi, PAPER[r]) for xi, r in zip(x, rows) if r in PAPER]
        ax.plot(*zip(*quoted), "k*", markersize=8, linestyle="none", label="paper (network)")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_xscale("log")
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_ylim(-3, 103)
    axes[1].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"Defective crystals: {result['n_crystals']} test crystals per defect level")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def merge(paths):
    """One result from the JSON files of runs on the same test set."""
    results = [json.loads(Path(path).read_text()) for path in paths]
    first = results[0]
    for other in results[1:]:
        if (other["n_per_class"], other["random_state"]) != (
            first["n_per_class"],
            first["random_state"],
        ):
            raise SystemExit(f"cannot merge runs on different test sets: {paths}")
        first["accuracy"].update(other["accuracy"])
        first["per_class"].update(other["per_class"])
        first["seconds"] = {
            k: first["seconds"].get(k, 0) + other["seconds"].get(k, 0) for k in first["seconds"]
        }
    # Models first, then spglib, whatever the order of the files.
    first["accuracy"] = dict(
        sorted(first["accuracy"].items(), key=lambda item: item[0].startswith("spglib"))
    )
    return first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, default=30)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--random-state", type=int, default=2018)
    parser.add_argument(
        "--model", action="append", metavar="NAME=DIR", help="a saved model (repeatable)"
    )
    parser.add_argument("--no-spglib", action="store_true", help="models only")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--plot", type=Path, help="write the accuracy curves as an image")
    parser.add_argument(
        "--merge", nargs="+", type=Path, metavar="JSON", help="print the tables of earlier runs"
    )
    args = parser.parse_args()
    if args.merge:
        result = merge(args.merge)
    else:
        start = time.perf_counter()
        models = load_models(args.model)
        result = run(
            args.n_per_class, args.random_state, models, args.n_jobs, spglib=not args.no_spglib
        )
        result["seconds"]["total"] = round(time.perf_counter() - start, 1)
    print(markdown(result))
    print(f"Time (s): {result['seconds']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(result, args.plot)


if __name__ == "__main__":
    main()
