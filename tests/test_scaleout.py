"""Scale-out through joblib: a Dask cluster gives the serial fingerprints, bit for bit."""

import numpy as np
import pytest
from conftest import CRYSTALS

from skcrystal import DiffractionFingerprint

distributed = pytest.importorskip("dask.distributed")


def test_dask_cluster_through_joblib_gives_the_serial_images():
    from joblib import parallel_config

    structures = [CRYSTALS[name][0] for name in sorted(CRYSTALS)]
    fingerprint = DiffractionFingerprint(
        n_pixels=16, pixel_size=1.6e-3, beam_stop_radius=1, target_n_atoms=64, compile=False
    )
    serial = fingerprint.transform(structures)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        workers = set(client.scheduler_info()["workers"])
        with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
            images = fingerprint.set_params(n_jobs=-1).transform(structures)
    np.testing.assert_array_equal(images, serial)
    # The canonical clusters were computed by the cluster's worker processes.
    assert stream.data and {task["worker"] for task in stream.data} <= workers
