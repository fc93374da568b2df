"""Minimal PNG writer (standard library only), so the command line needs no matplotlib."""

import struct
import zlib

import numpy as np


def write_png(path, image):
    """Write an image to a PNG file.

    Parameters
    ----------
    path : str or path-like
    image : ndarray of shape (height, width, 3) or (height, width)
        Values in [0, 1]; RGB or grey.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> write_png(target, np.zeros((4, 5, 3)))
    >>> target.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    pixels = np.clip(np.rint(np.asarray(image, dtype=float) * 255), 0, 255).astype(np.uint8)
    colour_type = 2 if pixels.ndim == 3 else 0
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.write(chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
