"""Seed 000's thumbnail function through plain Dask, as a Dask user would write it first.

A ``LocalCluster`` of one single-threaded process worker per CPU (the seed pool's shape), with
Dask's defaults otherwise, and a ``dask.bag`` over the file list (Dask's own partitioning) mapped
with the seed's ``make_image_thumbnail``. Outputs as ``seed000.py`` writes them.

    python plain_dask.py CORPUS OUT
"""

import glob
import os
import sys

from seed000 import make_image_thumbnail


def main(corpus, out):
    import dask.bag as db
    from distributed import Client, LocalCluster

    os.makedirs(out, exist_ok=True)
    image_files = sorted(glob.glob(os.path.join(corpus, "*.jpg")))
    with (
        LocalCluster(n_workers=os.cpu_count(), threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster),
    ):
        db.from_sequence(image_files).map(make_image_thumbnail, out).compute()


if __name__ == "__main__":
    main(*sys.argv[1:3])
