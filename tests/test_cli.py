"""The command line: outputs, formats, errors among good files, exit codes."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from skcrystal.cli import main

EXAMPLES = "skcrystal/data/examples"
GOOD = [f"{EXAMPLES}/Cu_fcc_vacancies_rotated.cif", f"{EXAMPLES}/Fe_bcc_thermal.extxyz"]


def test_help_is_fast_and_imports_no_torch():
    code = "import sys; from skcrystal.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules, 'pymatgen' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "classify" in out
    # The words of the API for the options that differ from it.
    assert "--jobs is n_jobs and --seed is random_state" in " ".join(out.split())
    assert out.strip().splitlines()[-1] == "False False"


def test_json_keeps_input_order_and_reports_the_broken_file(tmp_path, capsys):
    broken = tmp_path / "broken.cif"
    broken.write_text("data_broken\n_cell_length_a 3.0\n")
    status = main(["classify", "--format", "json", GOOD[0], str(broken), GOOD[1]])
    records = json.loads(capsys.readouterr().out)
    assert status == 1
    assert [r["path"] for r in records] == [GOOD[0], str(broken), GOOD[1]]
    assert records[0]["label"] == "fcc" and records[2]["label"] == "bcc"
    assert set(records[1]) == {"path", "error"} and records[1]["error"]
    for record in (records[0], records[2]):
        assert set(record) == {"path", "label", "nearest", "probability", "score", "probabilities"}
        assert record["nearest"] == record["label"]
        assert abs(sum(record["probabilities"].values()) - 1) < 1e-4
        assert record["probability"] == max(record["probabilities"].values())


def test_a_liquid_is_unknown_with_its_nearest_class_and_score(capsys):
    from skcrystal import load_pretrained

    liquid = "tests/data/md/Al_fcc_liquid_1.50Tm.extxyz.gz"
    assert main(["classify", "--format", "json", liquid, GOOD[0]]) == 0
    records = json.loads(capsys.readouterr().out)
    offset = load_pretrained().named_steps["classifier"].offset_
    assert records[0]["label"] == "unknown" and records[0]["score"] < offset
    assert records[0]["nearest"] == max(
        records[0]["probabilities"], key=records[0]["probabilities"].get
    )
    assert records[1]["label"] == "fcc" and records[1]["score"] >= offset
    assert main(["classify", "--format", "csv", "--no-unknown", liquid]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["label"] == records[0]["nearest"] and "score" not in row


@pytest.mark.parametrize("device", ["cuda", "gpu0"])
def test_an_unusable_device_is_a_usage_error(device, capsys):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    for command in ("classify", "fingerprint"):
        with pytest.raises(SystemExit) as info:
            main([command, "--device", device, GOOD[0]])
        assert info.value.code == 2
        assert f"--device {device}:" in capsys.readouterr().err


def test_jobs_give_the_serial_answer_and_keep_the_good_files(tmp_path, capsys):
    broken = tmp_path / "binary.cif"
    broken.write_bytes(bytes(range(256)))
    argv = ["classify", "--format", "json", GOOD[0], str(broken), GOOD[1]]
    assert main(argv) == 1
    serial = json.loads(capsys.readouterr().out)
    assert main(argv + ["--jobs", "2"]) == 1
    assert json.loads(capsys.readouterr().out) == serial
    assert [r.get("label") for r in serial] == ["fcc", None, "bcc"]


def test_workers_are_started_for_several_files_or_frames_only(tmp_path, monkeypatch, capsys):
    from skcrystal import _fingerprinter

    started = []

    def start_workers(n_jobs, device, n_items):
        started.append(_fingerprinter.worker_count(n_jobs, n_items))
        return iter(())

    monkeypatch.setattr(_fingerprinter, "start_workers", start_workers)
    trajectory = _trajectory(tmp_path)
    for paths in ([GOOD[0]], GOOD, [trajectory]):
        assert main(["classify", "--jobs", "2", *paths]) == 0
    capsys.readouterr()
    # A worker imports for seconds: not for one file, but for the frames of a trajectory.
    assert started == [1, 2, 2]


def test_all_good_files_exit_zero_with_csv_uncertainty_and_baseline(capsys):
    status = main(["classify", "--format", "csv", "--uncertainty", "--baseline", *GOOD])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert status == 0
    assert [row["label"] for row in rows] == ["fcc", "bcc"]
    assert all(float(row["mutual_information"]) >= 0 for row in rows)
    # A symmetry finder does not see through vacancies and thermal noise.
    assert [row["spglib"] for row in rows] == ["unknown", "unknown"]


def test_classifying_files_imports_neither_scikit_learn_nor_skorch():
    # Importing them was 1.5 s of the 4 s that one file took from a cold start; joblib, 0.1 s
    # more, is for several processes only.
    code = (
        "import sys; from skcrystal.cli import main; "
        f"status = main(['classify', '--uncertainty', '{GOOD[0]}']); "
        "print(status, *(name in sys.modules for name in ('sklearn', 'skorch', 'joblib')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert output.split()[-4:] == ["0", "False", "False", "False"]


def test_command_line_answers_are_the_pipelines(capsys):
    import numpy as np

    from skcrystal import load_pretrained

    paths = sorted(str(path) for path in Path(EXAMPLES).iterdir())
    assert main(["classify", "--format", "json", "--uncertainty", *paths]) == 0
    records = json.loads(capsys.readouterr().out)
    model = load_pretrained()
    classifier = model.named_steps["classifier"]
    images = model.named_steps["fingerprint"].transform(paths)
    proba = classifier.predict_proba(images)
    uncertainty = classifier.predict_uncertainty(images, random_state=0)
    np.testing.assert_allclose(
        [[r["probabilities"][c] for c in classifier.classes_] for r in records], proba, atol=2e-6
    )
    np.testing.assert_allclose(
        [r["score"] for r in records], classifier.score_samples(images), atol=1e-4
    )
    np.testing.assert_allclose(
        [r["mutual_information"] for r in records], uncertainty.mutual_information, atol=1e-6
    )
    np.testing.assert_allclose(
        [r["predictive_entropy"] for r in records], uncertainty.predictive_entropy, atol=1e-6
    )
    assert [r["label"] for r in records] == model.predict(paths).tolist()


def test_table_lists_every_file(capsys):
    status = main(["classify", GOOD[0], "missing.cif"])
    out = capsys.readouterr().out
    assert status == 1
    assert "fcc" in out and "missing.cif" in out and "no such file" in out


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "skcrystal", "classify", "--format", "json", GOOD[1]],
        capture_output=True,
        check=False,
        text=True,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["label"] == "bcc"


def test_fingerprint_command_writes_images(tmp_path, capsys):
    status = main(["fingerprint", GOOD[0], "missing.cif", "--output-dir", str(tmp_path)])
    assert status == 1
    [written] = tmp_path.glob("*.png")
    assert "no such file" in capsys.readouterr().out
    # The PNG holds the rendered image, channels as RGB.
    import numpy as np
    from PIL import Image

    from skcrystal import DiffractionFingerprint

    expected = DiffractionFingerprint().transform([GOOD[0]])[0]
    pixels = np.asarray(Image.open(written)).astype(float) / 255
    np.testing.assert_allclose(pixels, np.transpose(expected, (1, 2, 0)), atol=0.5 / 255 + 1e-6)


def test_fingerprint_command_says_how_many_regions(tmp_path, capsys):
    frame = str(Path(__file__).parent / "data" / "md" / "Fe_bcc_1.05Tm_frame0.extxyz.gz")
    assert main(["fingerprint", GOOD[0], frame, "--output-dir", str(tmp_path)]) == 0
    small, big = capsys.readouterr().out.splitlines()
    assert "regions" not in small
    assert "cluster of 2048 Fe atoms in 8 regions" in big


def test_train_command_writes_a_loadable_model(tmp_path, capsys, monkeypatch, tiny_pretrained):
    from skcrystal import load_pretrained, pretrained

    # The recipe itself is tested in test_pretrained.py; here, what the command passes to it
    # and does with what it returns (the session's model, trained once).
    calls = []

    def recipe(n_per_class, **kwargs):
        calls.append((n_per_class, kwargs))
        return tiny_pretrained[0], {**tiny_pretrained[1], "precision": kwargs["precision"]}

    monkeypatch.setattr(pretrained, "train_pretrained", recipe)
    argv = ["train", "--output", str(tmp_path), "--n-per-class", "10", "--epochs", "1"]
    status = main(argv + ["--augment", "--precision", "bfloat16", "--seed", "7", "--jobs", "2"])
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and info["precision"] == "bfloat16"
    assert calls == [
        (
            10,
            {
                "max_epochs": 1,
                "augment": True,
                "precision": "bfloat16",
                "random_state": 7,
                "n_jobs": 2,
            },
        )
    ]
    assert load_pretrained(tmp_path).predict([GOOD[0]]).shape == (1,)
    score = load_pretrained(tmp_path).score_samples([GOOD[0]])[0]
    assert main(["classify", "--model", str(tmp_path), "--format", "json", GOOD[0]]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert abs(record["score"] - score) <= 1e-4 * max(1.0, abs(score))


def _trajectory(tmp_path, broken=None):
    """Pristine fcc, bcc, fcc frames; frame ``broken`` with two atoms on top of each other."""
    import ase.io
    from test_frames import FRAMES

    frames = [atoms.copy() for atoms in FRAMES]
    if broken is not None:
        frames[broken].positions[1] = frames[broken].positions[0]
    path = tmp_path / "md.extxyz"
    ase.io.write(path, frames)
    return str(path)


def test_a_trajectory_gives_one_row_per_frame(tmp_path, capsys):
    trajectory = _trajectory(tmp_path)
    status = main(["classify", "--format", "json", GOOD[0], trajectory, GOOD[1]])
    records = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [(r["path"], r.get("frame")) for r in records] == [
        (GOOD[0], None),
        (trajectory, 0),
        (trajectory, 1),
        (trajectory, 2),
        (GOOD[1], None),
    ]
    assert [r["label"] for r in records] == ["fcc", "fcc", "bcc", "fcc", "bcc"]
    # A file of one structure keeps its keys; a frame adds its number.
    assert set(records[0]) == {"path", "label", "nearest", "probability", "score", "probabilities"}
    assert set(records[1]) == {
        "path",
        "frame",
        "label",
        "nearest",
        "probability",
        "score",
        "probabilities",
    }


def test_frames_option_csv_frame_column_and_baseline_per_frame(tmp_path, capsys):
    trajectory = _trajectory(tmp_path)
    status = main(
        ["classify", "--format", "csv", "--baseline", "--frames", "::2", trajectory, GOOD[1]]
    )
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert status == 0
    assert [(row["path"], row["frame"]) for row in rows] == [
        (trajectory, "0"),
        (trajectory, "2"),
        (GOOD[1], ""),
    ]
    # spglib sees each pristine frame, not the file.
    assert [(row["label"], row["spglib"]) for row in rows] == [
        ("fcc", "fcc"),
        ("fcc", "fcc"),
        ("bcc", "unknown"),
    ]
    assert main(["classify", "--format", "json", "--frames=-1", trajectory]) == 0
    assert [(r["frame"], r["label"]) for r in json.loads(capsys.readouterr().out)] == [(2, "fcc")]


def test_a_bad_frame_is_an_error_row_and_the_others_are_classified(tmp_path, capsys):
    trajectory = _trajectory(tmp_path, broken=1)
    argv = ["classify", "--format", "json", trajectory]
    assert main(argv) == 1
    serial = json.loads(capsys.readouterr().out)
    assert [r["frame"] for r in serial] == [0, 1, 2]
    assert [r.get("label") for r in serial] == ["fcc", None, "fcc"]
    assert (
        set(serial[1]) == {"path", "frame", "error"}
        and "on top of each other" in serial[1]["error"]
    )
    assert main(argv + ["--jobs", "2"]) == 1
    assert json.loads(capsys.readouterr().out) == serial
    assert main(["classify", trajectory]) == 1
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["path", "frame", "label", "nearest", "probability", "score"]
    assert table[2].split()[:3] == [trajectory, "1", "error:"]


def test_selection_past_the_end_is_reported(tmp_path, capsys):
    trajectory = _trajectory(tmp_path)
    assert main(["classify", "--format", "json", "--frames", "10:", trajectory, GOOD[1]]) == 1
    records = json.loads(capsys.readouterr().out)
    assert records[0] == {"path": trajectory, "error": "--frames 10: selects no frame of this file"}
    assert records[1]["label"] == "bcc"
    assert main(["classify", "--format", "json", "--frames", "7", trajectory]) == 1
    assert "out of range" in json.loads(capsys.readouterr().out)[0]["error"]


def test_lammps_dump_types_are_named_with_species(tmp_path, capsys):
    from test_frames import FRAMES, write_dump

    dump = str(write_dump(tmp_path / "md.lammpstrj", FRAMES))
    assert main(["classify", "--format", "json", dump]) == 1
    [record] = json.loads(capsys.readouterr().out)
    assert set(record) == {"path", "error"} and "--species 1=Al" in record["error"]
    argv = ["classify", "--format", "json", "--species", "1=Cu,2=Fe", "--species", "3=13", dump]
    assert main(argv) == 0
    assert [(r["frame"], r["label"]) for r in json.loads(capsys.readouterr().out)] == [
        (0, "fcc"),
        (1, "bcc"),
        (2, "fcc"),
    ]
    # One frame of types only: with --species, one row (no frame number), as any single file.
    single = str(write_dump(tmp_path / "one.lammpstrj", FRAMES[1:2]))
    assert main(["classify", "--format", "json", "--species", "1=Fe", single]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert (
        set(record) == {"path", "label", "nearest", "probability", "score", "probabilities"}
        and record["label"] == "bcc"
    )


@pytest.mark.parametrize(
    "option",
    [["--frames", "::-1"], ["--frames", "a"], ["--species", "1:Al"], ["--species", "1=Xx"]],
)
def test_bad_frames_or_species_are_usage_errors(option, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["classify", *option, GOOD[0]])
    assert caught.value.code == 2
    assert option[0] in capsys.readouterr().err


def test_files_classified_in_chunks_keep_their_rows_and_answers(tmp_path, capsys, monkeypatch):
    from skcrystal import cli

    broken = tmp_path / "broken.cif"
    broken.write_text("data_broken\n")
    argv = ["classify", "--format", "json", GOOD[0], str(broken), GOOD[1], GOOD[0], GOOD[1]]
    assert main(argv) == 1
    whole = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(cli, "_FILES_PER_CHUNK", 2)
    assert main(argv) == 1
    chunked = json.loads(capsys.readouterr().out)
    assert [r.get("label") for r in whole] == ["fcc", None, "bcc", "fcc", "bcc"]
    assert [(r["path"], r.get("label"), r.get("error")) for r in chunked] == [
        (r["path"], r.get("label"), r.get("error")) for r in whole
    ]
    # The network's float32 sums depend a little on the batch it is given.
    for ours, reference in zip(chunked, whole):
        if "score" in reference:
            assert ours["score"] == pytest.approx(reference["score"], abs=1e-3)
            assert ours["probability"] == pytest.approx(reference["probability"], abs=1e-5)
