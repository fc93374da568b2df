"""Write the X-ray form-factor table shipped in ``skcrystal/data/form_factors.csv`` (run once).

The five-Gaussian fits of Waasmaier and Kirfel (Acta Cryst. A51, 416, 1995) for the neutral
atoms 1 to 98, as the ``periodictable`` package ships them. Shipped as a table so that the
fingerprint needs no import of ``periodictable`` (whose package initialisation builds its
isotope tables: tens of milliseconds of every fresh process). ``tests/test_diffraction.py``
checks the table against ``periodictable``.

    python tools/make_form_factor_table.py
"""

from pathlib import Path

import periodictable
from periodictable.cromermann import getCMformula

TARGET = Path(__file__).resolve().parents[1] / "skcrystal" / "data" / "form_factors.csv"


def main():
    lines = [
        "# X-ray form factors f(s) = sum_m a_m exp(-b_m s^2) + c, s = sin(theta)/lambda in 1/A:",
        "# Waasmaier and Kirfel, Acta Cryst. A51, 416 (1995), neutral atoms, as shipped by",
        f"# periodictable {periodictable.__version__}. Written by tools/make_form_factor_table.py.",
        "Z,symbol,a1,a2,a3,a4,a5,b1,b2,b3,b4,b5,c",
    ]
    for element in periodictable.elements:
        if element.number == 0:
            continue
        try:
            formula = getCMformula(element.symbol)
        except KeyError:
            continue
        values = [*map(float, formula.a), *map(float, formula.b), float(formula.c)]
        lines.append(",".join([str(element.number), element.symbol, *map(repr, values)]))
    TARGET.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 4} elements to {TARGET}")


if __name__ == "__main__":
    main()
