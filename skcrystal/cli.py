"""Command line: ``skcrystal classify|fingerprint|train``.

Heavy modules are imported inside the commands, so ``skcrystal --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser():
    """The argument parser of the ``skcrystal`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skcrystal",
        description="Crystal-structure classification from two-dimensional diffraction fingerprints.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser(
        "classify",
        help="classify structure files with the shipped model",
        description=(
            "Classify each structure file (CIF, POSCAR, extxyz, ...) with the shipped model. "
            "Files that cannot be read or classified are reported in the output and every "
            "other file is still classified; the exit status is 1 if any file failed."
        ),
    )
    classify.add_argument("paths", nargs="+", metavar="PATH", help="structure files")
    classify.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    classify.add_argument(
        "--uncertainty", action="store_true", help="add Monte-Carlo-dropout mutual information and entropy"
    )
    classify.add_argument("--baseline", action="store_true", help="add spglib's class (symprec 1e-3 A, 1 degree)")
    classify.add_argument(
        "-j", "--jobs", type=int, default=None, help="processes reading the files (-1: one per core; default: 1)"
    )
    fingerprint = commands.add_parser(
        "fingerprint",
        help="write the diffraction fingerprint of each structure file as a PNG image",
        description=(
            "Write the diffraction fingerprint of each structure file (CIF, POSCAR, extxyz, "
            "...) as an RGB PNG image (channels: rotations about x, y, z) and print a one-line "
            "summary per file. Files that cannot be read are reported and skipped; the exit "
            "status is 1 if any file failed."
        ),
    )
    fingerprint.add_argument("paths", nargs="+", metavar="PATH", help="structure files")
    fingerprint.add_argument(
        "-o", "--output-dir", default="fingerprints", help="folder for the PNG images (default: %(default)s)"
    )
    fingerprint.add_argument("--n-pixels", type=int, default=64, help="detector pixels per side (default: 64)")
    train = commands.add_parser(
        "train",
        help="train the paper's network on generated crystals and save it (the shipped model's recipe)",
    )
    train.add_argument("--output", required=True, help="folder for weights.pt and model.json")
    train.add_argument("--n-per-class", type=int, default=1500, help="training crystals per class (default: 1500)")
    train.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument(
        "--augment", action="store_true", help="make half the training crystals defective (vacancies, displacements)"
    )
    train.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="arithmetic of the training steps (default: %(default)s)",
    )
    train.add_argument("--jobs", type=int, default=None, help="processes for data and fingerprints")
    return parser


def main(argv=None):
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    return {"classify": _classify, "fingerprint": _fingerprint, "train": _train}[args.command](args)


def _classify(args):
    from tqdm import tqdm

    from .pretrained import load_pretrained

    model = load_pretrained()
    fingerprint = model.named_steps["fingerprint"].set_params(n_jobs=args.jobs)
    classifier = model.named_steps["classifier"]
    records, clusters = [], []
    results = fingerprint.clusters_or_errors(args.paths)
    progress = tqdm(results, total=len(args.paths), desc="reading", unit="file", file=sys.stderr, disable=None)
    for path, result in zip(args.paths, progress):
        if isinstance(result, Exception):
            records.append({"path": path, "error": _message(result)})
            continue
        records.append({"path": path})
        clusters.append((len(records) - 1, result))
    if clusters:
        images = fingerprint.render([cluster for _, cluster in clusters])
        proba = classifier.predict_proba(images)
        extra = classifier.predict_uncertainty(images, random_state=0) if args.uncertainty else None
        for row, (index, _) in enumerate(clusters):
            best = int(proba[row].argmax())
            record = records[index]
            record["label"] = str(classifier.classes_[best])
            record["probability"] = round(float(proba[row, best]), 6)
            record["probabilities"] = {str(c): round(float(p), 6) for c, p in zip(classifier.classes_, proba[row])}
            if extra is not None:
                record["mutual_information"] = round(float(extra.mutual_information[row]), 6)
                record["predictive_entropy"] = round(float(extra.predictive_entropy[row]), 6)
    if args.baseline:
        from .baseline import SpglibBaseline

        baseline = SpglibBaseline().fit()
        for record in records:
            if "error" not in record:
                record["spglib"] = str(baseline.predict([record["path"]])[0])
    _write(records, args.format, uncertainty=args.uncertainty, baseline=args.baseline)
    return 1 if any("error" in record for record in records) else 0


def _message(error):
    return getattr(error, "reason", None) or f"{type(error).__name__}: {error}"


def _write(records, style, *, uncertainty, baseline):
    import csv
    import json

    columns = ["path", "label", "probability"]
    columns += ["mutual_information", "predictive_entropy"] if uncertainty else []
    columns += ["spglib"] if baseline else []
    if style == "json":
        print(json.dumps(records, indent=2))
    elif style == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns + ["error"], extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    else:
        good = [[str(r[c]) for c in columns] for r in records if "error" not in r]
        widths = [max(len(row[i]) for row in [columns] + good) for i in range(len(columns))]
        for record in [dict(zip(columns, columns))] + records:
            if "error" in record:
                print(f"{record['path'].ljust(widths[0])}  error: {record['error']}")
            else:
                print("  ".join(str(record[c]).ljust(w) for c, w in zip(columns, widths)).rstrip())


def _fingerprint(args):
    import numpy as np
    from pymatgen.core.periodic_table import Element

    from ._png import write_png
    from .fingerprint import DiffractionFingerprint
    from .io import StructureError

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    fp = DiffractionFingerprint(n_pixels=args.n_pixels)
    failed = 0
    for index, path in enumerate(args.paths):
        try:
            [cluster] = fp.clusters([path])
        except StructureError as error:
            failed += 1
            print(f"{path}: error: {error.reason}", file=sys.stdout)
            continue
        image = fp.render([cluster])[0]
        target = output / f"{index:03d}_{Path(path).stem}.png"
        write_png(target, np.transpose(image, (1, 2, 0)))
        species = ",".join(Element.from_Z(int(z)).symbol for z in np.unique(cluster.numbers))
        print(
            f"{path}: cluster of {len(cluster.numbers)} {species} atoms, "
            f"nearest-neighbour distance {cluster.scale:.3f} A -> {target}"
        )
    return 1 if failed else 0


def _train(args):
    import json

    from .pretrained import save_pretrained, train_pretrained

    pipeline, info = train_pretrained(
        args.n_per_class,
        max_epochs=args.epochs,
        augment=args.augment,
        precision=args.precision,
        random_state=args.seed,
        n_jobs=args.jobs,
    )
    save_pretrained(pipeline, args.output, info)
    print(json.dumps(info))
    return 0
