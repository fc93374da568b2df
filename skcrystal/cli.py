"""Command line: ``skcrystal classify|local|fingerprint|train``.

Heavy modules are imported inside the commands, so ``skcrystal --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path


def build_parser():
    """The argument parser of the ``skcrystal`` command.

    Returns
    -------
    argparse.ArgumentParser
        The parser, with a subcommand each for ``classify``, ``local``, ``fingerprint`` and
        ``train``.

    Examples
    --------
    >>> args = build_parser().parse_args(["classify", "a.cif", "b.cif", "--format", "csv"])
    >>> args.command, args.paths, args.format, args.frames
    ('classify', ['a.cif', 'b.cif'], 'csv', ':')
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skcrystal",
        description="Crystal-structure classification from two-dimensional diffraction fingerprints.",
        epilog=(
            "Options and the Python API use the same words where they can; where they differ, "
            "--jobs is n_jobs and --seed is random_state."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser(
        "classify",
        help="classify structure files with the shipped model",
        description=(
            "Classify each structure file (CIF, POSCAR, extxyz, LAMMPS dump, ...) with the "
            "shipped model, and each frame of a file of several frames (a trajectory): one row "
            "per frame, with its number in the file (from 0). A structure that is none of the "
            "model's classes is 'unknown': its novelty score is below the model's threshold; "
            "'nearest' and 'probability' then name the closest class. Files and frames that cannot be "
            "read or classified are reported in the output and every other one is still "
            "classified; the exit status is 1 if any failed."
        ),
    )
    classify.add_argument("paths", nargs="+", metavar="PATH", help="structure files")
    classify.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="output format"
    )
    classify.add_argument(
        "--model",
        metavar="DIR",
        default=None,
        help="a model folder written by 'skcrystal train' (default: the shipped one)",
    )
    classify.add_argument(
        "--device",
        default="cpu",
        help="torch device of the fingerprints and the network, e.g. cuda (default: cpu)",
    )
    classify.add_argument(
        "--no-unknown",
        action="store_true",
        help="always give the nearest class, never 'unknown' (turns the reject option off)",
    )
    classify.add_argument(
        "--uncertainty",
        action="store_true",
        help="add Monte-Carlo-dropout mutual information and entropy",
    )
    classify.add_argument(
        "--baseline", action="store_true", help="add spglib's class (symprec 1e-3 A, 1 degree)"
    )
    classify.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        help="processes reading and fingerprinting the files and frames, n_jobs in the API (-1: one per core; default: 1)",
    )
    classify.add_argument(
        "--frames",
        type=_frames_argument,
        default=":",
        metavar="SLICE",
        help=(
            "frames of each file of several frames, as a Python slice: '::10' every tenth, "
            "'100:' from frame 100 on, '-1' the last, --frames=-10: the last ten; default: all"
        ),
    )
    classify.add_argument(
        "--species",
        type=_species_argument,
        action="append",
        metavar="TYPE=ELEMENT,...",
        help="elements of the atom types of LAMMPS dumps that have no element column, e.g. 1=Al,2=Ni",
    )
    local = commands.add_parser(
        "local",
        help="label the regions and atoms of a large sample (polycrystal, atom-probe data)",
        description=(
            "Strided pattern matching: spherical regions centred on a grid cover the sample (a "
            "periodic box, or a point cloud without a cell); each is classified in its own "
            "orientation, with the reject option, and each atom gets the vote of the regions "
            "that hold it. Prints the phase fractions of each frame; --output writes the atoms "
            "with per-atom columns (extxyz, for OVITO), --grid the regions."
        ),
    )
    local.add_argument(
        "path",
        metavar="FILE",
        help="structure file (extxyz, LAMMPS dump, CIF, ...) or atom-probe reconstruction (.pos, .epos, .apt)",
    )
    local.add_argument(
        "--ranges",
        default=None,
        metavar="FILE",
        help="range file (.rrng, .rng) giving the ions of an atom-probe file their elements",
    )
    local.add_argument(
        "--element",
        default=None,
        help="without --ranges: the element of every ion of an atom-probe file",
    )
    local.add_argument(
        "--box",
        type=_positive,
        default=None,
        metavar="A",
        help="region diameter, Angstrom (default: 10 nearest-neighbour distances)",
    )
    local.add_argument(
        "--stride",
        type=_positive,
        default=4.0,
        metavar="A",
        help="spacing of the region centres, Angstrom (default: 4)",
    )
    local.add_argument(
        "--output",
        default=None,
        metavar="OUT.extxyz",
        help="the atoms with skcrystal_label, _class, _proba and _coverage columns",
    )
    local.add_argument(
        "--grid",
        default=None,
        metavar="OUT.npz|OUT.csv",
        help="the regions: centres, labels, probabilities, scores",
    )
    local.add_argument(
        "--model",
        metavar="DIR",
        default=None,
        help="a model folder written by 'skcrystal train' (default: the shipped one)",
    )
    local.add_argument(
        "--device",
        default="cpu",
        help="torch device of the fingerprints and the network (default: cpu)",
    )
    local.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="processes for the regions, n_jobs in the API (-1: one per core; default: 1)",
    )
    local.add_argument(
        "--no-unknown",
        action="store_true",
        help="never 'unknown': the nearest class of every region",
    )
    local.add_argument(
        "--frames",
        type=_frames_argument,
        default=":",
        metavar="SLICE",
        help="frames of a file of several, as a Python slice (default: all)",
    )
    local.add_argument(
        "--species",
        type=_species_argument,
        action="append",
        metavar="TYPE=ELEMENT,...",
        help="elements of the atom types of LAMMPS dumps that have no element column, e.g. 1=Al,2=Ni",
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
        "-o",
        "--output-dir",
        default="fingerprints",
        help="folder for the PNG images (default: %(default)s)",
    )
    fingerprint.add_argument(
        "--n-pixels", type=int, default=64, help="detector pixels per side (default: 64)"
    )
    fingerprint.add_argument(
        "--device", default="cpu", help="torch device of the kernel, e.g. cuda (default: cpu)"
    )
    train = commands.add_parser(
        "train",
        help="train the paper's network on generated crystals and save it (the shipped model's recipe)",
    )
    train.add_argument("--output", required=True, help="folder for weights.pt and model.json")
    train.add_argument(
        "--n-per-class", type=int, default=1500, help="training crystals per class (default: 1500)"
    )
    train.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    train.add_argument(
        "--seed", type=int, default=0, help="random seed, random_state in the API (default: 0)"
    )
    train.add_argument(
        "--augment",
        action="store_true",
        help="make half the training crystals defective (vacancies, displacements, thermal phonons)",
    )
    train.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="arithmetic of the training steps (default: %(default)s)",
    )
    train.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="processes for data and fingerprints, n_jobs in the API",
    )
    return parser


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _frames_argument(text):
    from ._readers import _selection

    try:
        _selection(text)
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _species_argument(text):
    from ._readers import _species_numbers

    species = {}
    for pair in text.split(","):
        kind, _, element = pair.partition("=")
        try:
            species[int(kind)] = int(element) if element.strip().isdigit() else element.strip()
        except ValueError:
            raise argparse.ArgumentTypeError(f"{pair!r} is not TYPE=ELEMENT, e.g. 1=Al") from None
    try:
        return _species_numbers(species)
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv=None):
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; ``None``: those of ``sys.argv``.

    Returns
    -------
    int
        The exit status: 0, or 1 if a file or frame could not be read or classified.

    Raises
    ------
    SystemExit
        From argparse: after ``--help`` or ``--version`` (status 0), or on bad arguments
        (status 2).

    Examples
    --------
    >>> try:
    ...     main(["--version"])
    ... except SystemExit as done:
    ...     print("exit status", done.code)  # doctest: +ELLIPSIS
    skcrystal ...
    exit status 0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = _device_problem(getattr(args, "device", "cpu"))
    if problem:
        parser.error(f"--device {args.device}: {problem}")
    return {"classify": _classify, "local": _local, "fingerprint": _fingerprint, "train": _train}[
        args.command
    ](args)


def _local(args):
    from ._readers import _frames, _selection
    from .atom_probe import RECONSTRUCTIONS, read_atom_probe
    from .io import StructureError
    from .local import LocalClassifier
    from .pretrained import load_pretrained

    model = load_pretrained(args.model, device=args.device)
    if args.no_unknown:
        model.named_steps["classifier"].set_params(unknown_label=None)
    local = LocalClassifier(model, box=args.box, stride=args.stride, n_jobs=args.jobs, verbose=1)
    species = {kind: z for part in args.species or [] for kind, z in part.items()} or None
    status, written = 0, False
    try:
        if Path(args.path).suffix.lower() in RECONSTRUCTIONS:
            frames = enumerate([read_atom_probe(args.path, args.ranges, element=args.element)])
        else:
            selection, wanted = _selection(args.frames)
            # Unchecked: a point cloud (no cell) is a valid sample here.
            frames = _frames(args.path, selection, species, check=False, wanted=wanted)
        for number, frame in frames:
            if isinstance(frame, StructureError):
                print(f"{args.path} frame {number}: {frame.reason}", file=sys.stderr)
                status = 1
                continue
            try:
                result = local.classify(frame)
            except (TypeError, ValueError) as error:
                print(f"{args.path} frame {number}: {error}", file=sys.stderr)
                status = 1
                continue
            fractions = ", ".join(
                f"{label} {share:.1%}" for label, share in sorted(result.phase_fractions().items())
            )
            filled = ", ".join(
                f"{label} {share:.1%}"
                for label, share in sorted(result.phase_fractions(unknown="fill").items())
            )
            print(
                f"{args.path} frame {number}: {len(result.centres)} regions, {len(result.atom_labels)} atoms: {fractions} "
                f"(boundaries filled: {filled})"
            )
            if args.output:
                result.write_extxyz(args.output, frame, append=written)
                written = True
            if args.grid:
                grid = Path(args.grid)
                result.save_grid(
                    grid
                    if number == 0
                    else grid.with_name(f"{grid.stem}_frame{number}{grid.suffix}")
                )
    except (StructureError, OSError, IndexError, ValueError, ImportError) as error:
        print(f"{args.path}: {_message(error)}", file=sys.stderr)
        status = 1
    return status


def _device_problem(device):
    """Why torch cannot use ``device`` here, or ``None``."""
    if device == "cpu":
        return None
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        return str(error).strip().splitlines()[0]
    if kind == "cuda" and not torch.cuda.is_available():
        return "torch sees no CUDA device"
    return None


def _classify(args):
    from tqdm import tqdm

    from ._fingerprinter import start_workers
    from ._inputs import check_sequence
    from ._readers import _SEVERAL_FRAMES, _TYPES_ONLY

    # The workers import what they need while this process imports torch: no more than there
    # are files, unless a single file is a trajectory (its frames are read in them).
    several = len(args.paths) == 1 and _is_trajectory(args.paths[0])
    starting = start_workers(args.jobs, args.device, sys.maxsize if several else len(args.paths))
    from . import _saved_model

    # The saved model's own parts, not load_pretrained's pipeline: classifying files needs
    # neither scikit-learn nor skorch, and importing them is half of a cold start.
    model = _saved_model.read(args.model, device=args.device, n_jobs=args.jobs)
    for _ in starting:
        pass
    if args.no_unknown:
        model.unknown_label = None
    fingerprint = model.fingerprinter
    predict = _Predictor(model, args, fingerprint.renders_in_workers(len(args.paths)))
    species = {kind: z for part in args.species or [] for kind, z in part.items()} or None
    records, good, by_frame = [], [], {}
    # Each file is first read (in the worker processes) as one structure, as an estimator
    # reads it; those that are several frames, or need --species, are then read frame by frame.
    results = fingerprint.images_or_errors(check_sequence(args.paths))
    progress = tqdm(
        results, total=len(args.paths), desc="reading", unit="file", file=sys.stderr, disable=None
    )
    for path, result in zip(args.paths, progress):
        records.append({"path": path})
        reason = getattr(result, "reason", "")
        if reason.startswith(_SEVERAL_FRAMES) or (species and reason.startswith(_TYPES_ONLY)):
            by_frame[len(records) - 1] = reason.startswith(_SEVERAL_FRAMES)
        elif isinstance(result, Exception):
            records[-1]["error"] = _message(result)
        else:
            good.append((records[-1], result, path))
            # Classified in chunks: the worker processes read and render the next files
            # meanwhile, and the images of a million files are not all held at once.
            if len(good) == _FILES_PER_CHUNK:
                predict(good)
                good = []
    predict(good)
    rows = []
    for index, record in enumerate(records):
        if index in by_frame:
            rows += _classify_frames(
                record["path"], fingerprint, predict, args, species, by_frame[index]
            )
        else:
            rows.append(record)
    _write(
        rows,
        args.format,
        uncertainty=args.uncertainty,
        baseline=args.baseline,
        reject=not args.no_unknown,
    )
    return 1 if any("error" in row for row in rows) else 0


#: Files classified together while the worker processes read and render the next ones (the
#: last chunk is classified after the workers are done: a small one ends the run sooner).
_FILES_PER_CHUNK = 64
#: Frames read, fingerprinted and classified together, per worker process (and at most
#: this many atoms in all): the frames of a trajectory are not all held at once.
_FRAMES_PER_JOB = 16
_MAX_BATCH_ATOMS = 4_000_000


def _is_trajectory(path):
    """Whether a scan of the file finds two frames (no error raised, no pymatgen imported).

    Only the formats that the readers split into frames themselves are scanned (xyz and
    LAMMPS dumps); a trajectory of another format starts its workers when its frames come.
    """
    from ._readers import _holds_several_frames, _scanned_format

    path = Path(path)
    # An unreadable file is reported when it is read.
    with contextlib.suppress(Exception):
        scanned = _scanned_format(path)
        return scanned is not None and _holds_several_frames(path, scanned)
    return False


def _classify_frames(path, fingerprint, predict, args, species, several):
    """The rows of the frames of one file (``several``: it holds more than one)."""
    from tqdm import tqdm

    from ._errors import StructureError
    from ._fingerprinter import worker_count
    from ._readers import _frames, _selection

    selection, wanted = _selection(args.frames if several else ":")
    per_batch = _FRAMES_PER_JOB * worker_count(args.jobs, sys.maxsize)
    rows, batch, n_atoms = [], [], 0
    progress = tqdm(desc=Path(path).name, unit="frame", file=sys.stderr, disable=None)

    def flush():
        if batch:
            results = fingerprint.images_or_errors([frame for _, frame in batch])
            good = []
            for (row, frame), result in zip(batch, results):
                if isinstance(result, Exception):
                    row["error"] = _message(result)
                else:
                    good.append((row, result, frame))
            predict(good)
            progress.update(len(batch))
            batch.clear()

    try:
        for number, frame in _frames(path, selection, species, check=False, wanted=wanted):
            rows.append({"path": path, "frame": number} if several else {"path": path})
            if isinstance(frame, StructureError):
                rows[-1]["error"] = frame.reason
                continue
            batch.append((rows[-1], frame))
            n_atoms += len(frame)
            if len(batch) >= per_batch or n_atoms >= _MAX_BATCH_ATOMS:
                flush()
                n_atoms = 0
    except (StructureError, IndexError) as error:
        frame = getattr(error, "frame", None)
        rows.append(
            {"path": path, **({} if frame is None else {"frame": frame}), "error": _message(error)}
        )
    # Also after an error of the whole file: the frames read before it are classified.
    flush()
    progress.close()
    if not rows:
        rows.append(
            {"path": path, "error": f"--frames {args.frames} selects no frame of this file"}
        )
    return rows


class _Predictor:
    """Fills rows with the model's answers (and spglib's) for the images of structures.

    ``workers_render``: whether worker processes render images meanwhile.
    """

    def __init__(self, model, args, workers_render):
        self.model = model
        self.workers_render = workers_render
        self.uncertainty = args.uncertainty
        self.baseline = None
        if args.baseline:
            from .baseline import SpglibBaseline

            self.baseline = SpglibBaseline().fit()

    def __call__(self, good):
        """``good``: ``(row, image, item)`` for each structure; the item is a path or a frame."""
        if not good:
            return
        import numpy as np
        from scipy.special import softmax

        model = self.model
        images = np.stack([image for _, image, _ in good])
        with _network_threads(self.workers_render):
            features, logits = model.scored(images)
            extra = model.uncertainty(images) if self.uncertainty else None
        proba = softmax(logits, axis=1)
        reject = model.unknown_label is not None and model.novelty is not None
        score = model.novelty.score(features, logits) if reject else None
        spglib = self.baseline.predict([item for _, _, item in good]) if self.baseline else None
        for i, (row, _, _) in enumerate(good):
            best = int(proba[i].argmax())
            row["label"] = str(model.classes[best])
            if reject:
                row["nearest"] = row["label"]
                row["score"] = round(float(score[i]), 4)
                if score[i] < model.offset:
                    row["label"] = str(model.unknown_label)
            row["probability"] = round(float(proba[i, best]), 6)
            row["probabilities"] = {
                str(c): round(float(p), 6) for c, p in zip(model.classes, proba[i])
            }
            if extra is not None:
                row["mutual_information"] = round(float(extra["mutual_information"][i]), 6)
                row["predictive_entropy"] = round(float(extra["predictive_entropy"][i]), 6)
            if spglib is not None:
                row["spglib"] = str(spglib[i])


@contextlib.contextmanager
def _network_threads(workers_render):
    """One torch thread while the worker processes render: they keep the cores busy."""
    import torch

    threads = torch.get_num_threads()
    if workers_render:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _message(error):
    return getattr(error, "reason", None) or f"{type(error).__name__}: {error}"


def _write(records, style, *, uncertainty, baseline, reject):
    import csv
    import json

    # A CSV always has the frame column (empty for a file of one structure), a table only
    # when some row is a frame; a JSON object has "frame" only for the frame of a trajectory.
    frame = ["frame"] if style == "csv" or any("frame" in record for record in records) else []
    columns = ["path", *frame, "label"] + (
        ["nearest", "probability", "score"] if reject else ["probability"]
    )
    columns += ["mutual_information", "predictive_entropy"] if uncertainty else []
    columns += ["spglib"] if baseline else []
    if style == "json":
        print(json.dumps(records, indent=2))
    elif style == "csv":
        writer = csv.DictWriter(
            sys.stdout, fieldnames=columns + ["error"], extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(records)
    else:
        where = 1 + len(frame)  # the columns that say which structure a row is, an error's too
        records = [dict(zip(columns, columns))] + records
        table = [[str(record.get(c, "")) for c in columns] for record in records]
        widths = [
            max(
                len(cells[i])
                for cells, record in zip(table, records)
                if i < where or "error" not in record
            )
            for i in range(len(columns))
        ]
        for cells, record in zip(table, records):
            cells = [cell.ljust(width) for cell, width in zip(cells, widths)]
            if "error" in record:
                cells[where:] = [f"error: {record['error']}"]
            print("  ".join(cells).rstrip())


def _fingerprint(args):
    import numpy as np
    from PIL import Image
    from pymatgen.core.periodic_table import Element

    from .fingerprint import DiffractionFingerprint
    from .io import StructureError

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    fp = DiffractionFingerprint(n_pixels=args.n_pixels, device=args.device)
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
        Image.fromarray(np.rint(np.transpose(image, (1, 2, 0)) * 255).astype(np.uint8)).save(target)
        species = ",".join(Element.from_Z(int(z)).symbol for z in np.unique(cluster.numbers))
        n_regions = 1 if cluster.regions is None else len(np.unique(cluster.regions))
        regions = f" in {n_regions} regions" if n_regions > 1 else ""
        print(
            f"{path}: cluster of {len(cluster.numbers)} {species} atoms{regions}, "
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
