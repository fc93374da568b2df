"""Big simulation boxes: time and peak memory of one fingerprint, per box size.

Each box is a cubic supercell of bcc iron given as an ASE ``Atoms`` (as an MD snapshot would
be), fingerprinted in a fresh process (so the peak resident memory is that box's alone) with
``on_error="nan"``: a box too large for the Bragg-peak search is reported, not fingerprinted.

    python benchmarks/big_input.py [--repeats 8 13 20 30 40 80]
"""

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time, warnings
import numpy as np
from ase.build import bulk
from skcrystal import DiffractionFingerprint
n = int(sys.argv[1])
atoms = bulk("Fe", "bcc", a=2.87, cubic=True).repeat((n, n, n))
fingerprint = DiffractionFingerprint(compile=False, on_error="nan")
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    image = fingerprint.transform([atoms])[0]
seconds = time.perf_counter() - start
errors = list(fingerprint.errors_)
reference = fingerprint.transform([bulk("Fe", "bcc", a=2.87)])[0]
print(json.dumps({
    "atoms": len(atoms),
    "seconds": round(seconds, 2),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    "max_diff_to_unit_cell": None if errors else float(np.abs(image - reference).max()),
    "error": errors[0].reason if errors else None,
}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, nargs="+", default=[8, 13, 20, 30, 40, 80])
    args = parser.parse_args()
    print("| atoms | seconds | peak memory (MB) | max image difference to the unit cell | error |")
    print("|---:|---:|---:|---:|---|")
    for n in args.repeats:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        diff = "–" if row["max_diff_to_unit_cell"] is None else f"{row['max_diff_to_unit_cell']:.1e}"
        error = (row["error"] or "")[:80]
        print(f"| {row['atoms']} | {row['seconds']} | {row['peak_rss_mb']} | {diff} | {error} |")


if __name__ == "__main__":
    main()
