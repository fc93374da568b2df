"""Local classification of large samples: skcrystal beside OVITO's PTM and adaptive CNA.

Samples from :mod:`skcrystal.polycrystal`, one seed each:

* ``polycrystal``: a periodic Voronoi polycrystal of fcc, bcc and hcp grains (``--size``,
  ``--grains``), pristine;
* ``thermal``: the same with Debye phonons at a Lindemann ratio of 0.08;
* ``apt 50 % + 0.1 A``: the same as a point cloud with half the atoms missing and Gaussian
  noise of 0.1 A per component;
* ``apt 50 % + (0.1, 0.1, 0.3) A``: atom-probe-like, depth noise three times the lateral;
* ``precipitates``: bcc spheres in an fcc matrix;
* ``stacking fcc/hcp``: coherent fcc and hcp lamellae of close-packed layers, each half the box.

For each method: per-atom accuracy by distance to the nearest boundary, accuracy in the
interior (at least half a region diameter from a boundary, issue #13), the share called
unknown / other, phase fractions (atoms) against the truth (of the classified atoms; for
skcrystal also with the boundaries filled, ``phase_fractions(unknown="fill")``), time and
peak memory. PTM runs with sc and diamond templates enabled, at RMSD cutoffs 0.1, 0.15 and
none; a-CNA with the adaptive cutoff. PTM and a-CNA types map to classes (FCC -> fcc, BCC -> bcc, HCP -> hex/rh,
SC -> sc, cubic diamond -> diam; anything else -> unknown). ``--sizes`` adds skcrystal at other
region diameters on the pristine polycrystal (resolution against region size).

    python benchmarks/local.py [--size 70] [--grains 6] [--stride 5] [--jobs 2] [--sizes 16,20,30]
        [--samples polycrystal,...] [--json local.json] [--plot slice.png] [--no-ovito]

Needs ``pip install ovito`` for the peers (``--no-ovito`` skips them).
"""

import argparse
import itertools
import json
import resource
import time
from pathlib import Path

import numpy as np

from skcrystal import load_pretrained
from skcrystal.defects import ThermalDisplacements
from skcrystal.local import LocalClassifier
from skcrystal.polycrystal import atom_probe, make_polycrystal, make_precipitates, make_stacking

DISTANCE_BINS = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, np.inf)
PTM_CUTOFFS = (0.1, 0.15, 0.0)


def samples(size, grains, seed, wanted=None):
    """``{name: (ase.Atoms, truth labels, boundary distance)}`` (only those ``wanted``)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms, truth = make_polycrystal(size, grains, random_state=seed)

    def thermal():
        hot = ThermalDisplacements(lindemann=0.08, random_state=seed).transform([atoms])[0]
        return AseAtomsAdaptor.get_atoms(hot), truth.labels, truth.boundary_distance

    def probe(sigma):
        cloud, kept = atom_probe(atoms, 0.5, sigma, random_state=seed)
        return cloud, truth.labels[kept], truth.boundary_distance[kept]

    def precipitates():
        matrix, inside = make_precipitates(size, max(2, grains // 2), size / 8, random_state=seed)
        return matrix, inside.labels, inside.boundary_distance

    def stacking():
        # Lamellae about a region across, stacked along z; as many layers as fit the box.
        layers = max(4, int(size / (2 * 2.55 * np.sqrt(2 / 3))))
        lamellae, stack = make_stacking(
            ("fcc", layers, "hex/rh", layers),
            repeats=(int(size / 2.55), int(size / (2.55 * np.sqrt(3)))),
        )
        return lamellae, stack.labels, stack.boundary_distance

    makers = {
        "polycrystal": lambda: (atoms, truth.labels, truth.boundary_distance),
        "thermal L=0.08": thermal,
        "apt 50 % + 0.1 A": lambda: probe((0.1, 0.1, 0.1)),
        "apt 50 % + (0.1, 0.1, 0.3) A": lambda: probe((0.1, 0.1, 0.3)),
        "precipitates": precipitates,
        "stacking fcc/hcp": stacking,
    }
    return {name: make() for name, make in makers.items() if wanted is None or name in wanted}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_skcrystal(model, atoms, stride, jobs, box=None):
    started, before = time.perf_counter(), peak_rss_mib()
    result = LocalClassifier(model, box=box, stride=stride, n_jobs=jobs).classify(atoms)
    seconds = time.perf_counter() - started
    return result.atom_labels.astype(str), {
        "filled_fractions": result.phase_fractions(unknown="fill"),
        "seconds": seconds,
        "regions": len(result.centres),
        "regions_per_s": len(result.centres) / seconds,
        "peak_rss_growth_mib": peak_rss_mib() - before,
    }


def ovito_labels(atoms, modifier, names):
    """Per-atom classes from an OVITO structure-identification modifier."""
    from ovito.io.ase import ase_to_ovito

    frame = atoms.copy()
    if not frame.pbc.any():
        # A point cloud: OVITO wants a cell; an open one around the points.
        low = frame.positions.min(axis=0) - 5
        frame.positions -= low
        frame.cell = np.diag(frame.positions.max(axis=0) + 5)
    data = ase_to_ovito(frame)
    started = time.perf_counter()
    data.apply(modifier)
    seconds = time.perf_counter() - started
    types = np.asarray(data.particles["Structure Type"])
    return np.array([names.get(int(t), "unknown") for t in types]), {"seconds": seconds}


def peers():
    """``{column: (modifier, type -> class)}`` of PTM at each cutoff and a-CNA."""
    from ovito.modifiers import CommonNeighborAnalysisModifier as CNA
    from ovito.modifiers import PolyhedralTemplateMatchingModifier as PTM

    ptm_names = {
        int(PTM.Type.FCC): "fcc",
        int(PTM.Type.BCC): "bcc",
        int(PTM.Type.HCP): "hex/rh",
        int(PTM.Type.SC): "sc",
        int(PTM.Type.CUBIC_DIAMOND): "diam",
    }
    out = {}
    for cutoff in PTM_CUTOFFS:
        ptm = PTM(rmsd_cutoff=cutoff)
        for kind in (PTM.Type.SC, PTM.Type.CUBIC_DIAMOND, PTM.Type.HEX_DIAMOND):
            ptm.structures[kind].enabled = True
        out[f"PTM {cutoff:g}" if cutoff else "PTM off"] = (ptm, ptm_names)
    cna_names = {int(CNA.Type.FCC): "fcc", int(CNA.Type.BCC): "bcc", int(CNA.Type.HCP): "hex/rh"}
    out["a-CNA"] = (CNA(mode=CNA.Mode.AdaptiveCutoff), cna_names)
    return out


def scores(predicted, truth, distance, interior):
    by_distance = {}
    for low, high in itertools.pairwise(DISTANCE_BINS):
        inside = (distance >= low) & (distance < high)
        if inside.any():
            by_distance[f"{low:g}-{high:g}"] = float(np.mean(predicted[inside] == truth[inside]))
    core = distance >= interior
    classes = sorted(set(truth.tolist()))
    return {
        "interior_accuracy": float(np.mean(predicted[core] == truth[core])) if core.any() else None,
        "interior_atoms": int(core.sum()),
        "accuracy": float(np.mean(predicted == truth)),
        "unknown": float(np.mean(predicted == "unknown")),
        "by_distance": by_distance,
        "fractions": {c: float(np.mean(predicted == c)) for c in classes + ["unknown"]},
        # Of the atoms that got a class: the estimate of the phase fractions.
        "known_fractions": {
            c: float(np.mean(predicted[predicted != "unknown"] == c))
            if np.any(predicted != "unknown")
            else 0.0
            for c in classes
        },
        "true_fractions": {c: float(np.mean(truth == c)) for c in classes},
    }


def run(args):
    model = load_pretrained()
    report = {"args": vars(args), "samples": {}}
    made = samples(args.size, args.grains, args.seed, args.samples)
    slices = {}
    # skcrystal on every sample first: once imported, OVITO slows the rest of the process
    # (10^5-atom polycrystal: 49.6 regions/s after it, 58.4 without it).
    for name, (atoms, truth, distance) in made.items():
        # Half the default region diameter (REGION_REACH nearest-neighbour distances of 2.55 A).
        interior = 5.0 * 2.55 if "precipitates" not in name else 5.0 * 2.5
        entry = {"atoms": len(atoms), "interior_distance": interior, "methods": {}}
        labels, timing = run_skcrystal(model, atoms, args.stride, args.jobs)
        entry["methods"]["skcrystal"] = {**scores(labels, truth, distance, interior), **timing}
        slices[name] = {"truth": truth, "skcrystal": labels}
        report["samples"][name] = entry
    if args.sizes:
        atoms, truth, distance = (
            made["polycrystal"]
            if "polycrystal" in made
            else samples(args.size, args.grains, args.seed, ["polycrystal"])["polycrystal"]
        )
        report["region_sizes"] = {}
        for box in args.sizes:
            labels, timing = run_skcrystal(model, atoms, args.stride, args.jobs, box=box)
            report["region_sizes"][box] = {**scores(labels, truth, distance, 5.0 * 2.55), **timing}
            print(
                "box", box, round(report["region_sizes"][box]["interior_accuracy"], 3), flush=True
            )
    methods = peers() if not args.no_ovito else {}
    for name, (atoms, truth, distance) in made.items():
        entry = report["samples"][name]
        for column, (modifier, names) in methods.items():
            labels, timing = ovito_labels(atoms, modifier, names)
            entry["methods"][column] = {
                **scores(labels, truth, distance, entry["interior_distance"]),
                **timing,
            }
            slices[name][column] = labels
        if args.plot and name == "polycrystal":
            plot(atoms, slices[name], args.plot)
        print(
            name,
            json.dumps(
                {m: round(v["interior_accuracy"] or 0, 3) for m, v in entry["methods"].items()}
            ),
            flush=True,
        )
    return report


def plot(atoms, slices, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skcrystal.plotting import plot_slice_map

    shown = [k for k in ("truth", "skcrystal", "PTM 0.1", "a-CNA") if k in slices]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.4 * len(shown), 3.6), layout="constrained")
    for ax, key in zip(np.atleast_1d(axes), shown):
        plot_slice_map(atoms.positions, slices[key], ax=ax, title=key, size=3.0)
    fig.savefig(path, dpi=110)


def markdown(report):
    lines = [f"`python benchmarks/local.py {' '.join(report['command'])}`", ""]
    for name, entry in report["samples"].items():
        lines += [
            f"## {name} ({entry['atoms']} atoms; interior: at least {entry['interior_distance']:.1f} A from a boundary)",
            "",
            "| method | interior accuracy | all atoms | unknown / other | "
            + " | ".join(f"{b} A" for b in next(iter(entry["methods"].values()))["by_distance"])
            + " | fractions of the classified atoms (truth) | seconds | regions/s | peak RSS growth MiB |",
            "|---|---:|---:|---:|"
            + "---:|" * len(next(iter(entry["methods"].values()))["by_distance"])
            + "---|---:|---:|---:|",
        ]
        for method, r in entry["methods"].items():
            fractions = ", ".join(
                f"{c} {100 * r['known_fractions'].get(c, 0):.1f} ({100 * t:.1f})"
                for c, t in r["true_fractions"].items()
            )
            if "filled_fractions" in r:
                fractions += "; boundaries filled: " + ", ".join(
                    f"{c} {100 * r['filled_fractions'].get(c, 0):.1f}" for c in r["true_fractions"]
                )
            distances = " | ".join(f"{100 * v:.1f}" for v in r["by_distance"].values())
            lines.append(
                f"| {method} | {100 * (r['interior_accuracy'] or 0):.1f} | {100 * r['accuracy']:.1f} | {100 * r['unknown']:.1f} | {distances} | "
                f"{fractions} | {r['seconds']:.1f} | {r.get('regions_per_s', float('nan')):.1f} | {r.get('peak_rss_growth_mib', float('nan')):.0f} |"
            )
        lines.append("")
    if report.get("region_sizes"):
        lines += [
            "## Region diameter (pristine polycrystal)",
            "",
            "| box (A) | interior accuracy | all atoms | unknown | regions/s |",
            "|---:|---:|---:|---:|---:|",
        ]
        for box, r in report["region_sizes"].items():
            lines.append(
                f"| {box} | {100 * r['interior_accuracy']:.1f} | {100 * r['accuracy']:.1f} | {100 * r['unknown']:.1f} | {r['regions_per_s']:.1f} |"
            )
    return "\n".join(lines)


def main(argv=None):
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=70.0, help="box edge, Angstrom")
    parser.add_argument("--grains", type=int, default=6)
    parser.add_argument("--stride", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--sizes",
        type=lambda text: [float(v) for v in text.split(",")],
        default=None,
        help="region diameters to compare, e.g. 16,20,30",
    )
    parser.add_argument(
        "--samples",
        type=lambda text: text.split(","),
        default=None,
        help="only these samples, e.g. polycrystal",
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--no-ovito", action="store_true")
    args = parser.parse_args(argv)
    report = run(args)
    report["command"] = sys.argv[1:] if argv is None else list(argv)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    print(markdown(report))


if __name__ == "__main__":
    main()
