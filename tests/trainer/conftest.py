"""Fixtures of the trainer tests: a real TransferQueue, as verl's task runner starts it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def transfer_queue():
    """A real local TransferQueue (one storage unit), as verl's task runner starts it (``tq.init``)."""
    import ray
    import transfer_queue as tq
    from omegaconf import OmegaConf

    ray.init(num_cpus=4, include_dashboard=False)
    try:
        tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
        yield tq
    finally:
        tq.close()
        ray.shutdown()
