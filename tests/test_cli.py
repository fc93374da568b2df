"""The command line: outputs, formats, errors among good files, exit codes."""

import csv
import io
import json
import subprocess
import sys

from skcrystal.cli import main

EXAMPLES = "skcrystal/data/examples"
GOOD = [f"{EXAMPLES}/Cu_fcc_vacancies_rotated.cif", f"{EXAMPLES}/Fe_bcc_thermal.extxyz"]


def test_help_is_fast_and_imports_no_torch():
    code = "import sys; from skcrystal.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules, 'pymatgen' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "classify" in out
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
        assert set(record) == {"path", "label", "probability", "probabilities"}
        assert abs(sum(record["probabilities"].values()) - 1) < 1e-4
        assert record["probability"] == max(record["probabilities"].values())


def test_jobs_give_the_serial_answer_and_keep_the_good_files(tmp_path, capsys):
    broken = tmp_path / "binary.cif"
    broken.write_bytes(bytes(range(256)))
    argv = ["classify", "--format", "json", GOOD[0], str(broken), GOOD[1]]
    assert main(argv) == 1
    serial = json.loads(capsys.readouterr().out)
    assert main(argv + ["--jobs", "2"]) == 1
    assert json.loads(capsys.readouterr().out) == serial
    assert [r.get("label") for r in serial] == ["fcc", None, "bcc"]


def test_all_good_files_exit_zero_with_csv_uncertainty_and_baseline(capsys):
    status = main(["classify", "--format", "csv", "--uncertainty", "--baseline", *GOOD])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert status == 0
    assert [row["label"] for row in rows] == ["fcc", "bcc"]
    assert all(float(row["mutual_information"]) >= 0 for row in rows)
    # A symmetry finder does not see through vacancies and thermal noise.
    assert [row["spglib"] for row in rows] == ["unknown", "unknown"]


def test_table_lists_every_file(capsys):
    status = main(["classify", GOOD[0], "missing.cif"])
    out = capsys.readouterr().out
    assert status == 1
    assert "fcc" in out and "missing.cif" in out and "no such file" in out


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "skcrystal", "classify", "--format", "json", GOOD[1]],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["label"] == "bcc"


def test_fingerprint_command_writes_images(tmp_path, capsys):
    status = main(["fingerprint", GOOD[0], "missing.cif", "--output-dir", str(tmp_path)])
    assert status == 1
    assert len(list(tmp_path.glob("*.png"))) == 1
    assert "no such file" in capsys.readouterr().out


def test_train_command_writes_a_loadable_model(tmp_path, capsys):
    from skcrystal import load_pretrained

    argv = ["train", "--output", str(tmp_path), "--n-per-class", "10", "--epochs", "1"]
    status = main(argv + ["--augment", "--precision", "bfloat16"])
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and info["n_structures"] == 70
    assert info["precision"] == "bfloat16" and len(info["augmentation"]) == 6
    assert load_pretrained(tmp_path).predict([GOOD[0]]).shape == (1,)
