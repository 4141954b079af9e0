"""verl's vLLM worker extension with a weight sync that works on vLLM's CPU platform.

vLLM's CPU build repacks every linear layer's weight for its GEMM kernels once the weights are loaded
(``UnquantizedLinearMethod.process_weights_after_loading`` → ``dispatch_cpu_unquantized_gemm(remove_weight=True)``)
and drops the original parameter. verl's weight sync
(``verl.workers.rollout.vllm_rollout.utils.vLLMColocateWorkerExtension.update_weights_from_ipc``) loads the
actor's weights with ``model.load_weights`` into those parameters, which no longer exist there
(``AttributeError: 'Parameter' object has no attribute 'weight_loader'``).

``CPUColocateWorkerExtension`` replaces that one method on the CPU platform: it receives the buckets through
verl's own ``BucketedWeightReceiver`` (shared memory, as verl does wherever device IPC is missing) and loads
them with vLLM's layerwise reload (``initialize_layerwise_reload`` before the first bucket,
``finalize_layerwise_reload`` after the last), which restores each layer, loads it, and repacks it — the
path vLLM's own ``reload_weights`` takes. Every other method is verl's. It is selected with
``actor_rollout_ref.rollout.engine_kwargs.vllm.worker_extension_cls`` (verl passes ``engine_kwargs`` to vLLM
after its own defaults); ``recipes/train_tiny_cpu.sh`` sets it with ``ROLLOUT=vllm``.
"""

from __future__ import annotations

import torch
from verl.workers.rollout.vllm_rollout.bucketed_weight_transfer import BucketedWeightReceiver
from verl.workers.rollout.vllm_rollout.utils import vLLMColocateWorkerExtension
from vllm.model_executor.model_loader.reload import finalize_layerwise_reload, initialize_layerwise_reload
from vllm.platforms import current_platform


class CPUColocateWorkerExtension(vLLMColocateWorkerExtension):
    """verl's worker extension; on the CPU platform, full-weight syncs go through vLLM's layerwise reload."""

    @torch.no_grad()
    def update_weights_from_ipc(
        self, peft_config: dict | None = None, base_sync_done: bool = False, use_shm: bool = False
    ) -> None:
        """Load one weight sync from verl's sender into the CPU model (verl's own method elsewhere)."""
        if not current_platform.is_cpu():
            return super().update_weights_from_ipc(peft_config, base_sync_done, use_shm)
        if peft_config or self._is_qat_model or self._is_modelopt_qat:
            raise NotImplementedError("vLLM on the CPU: LoRA and QAT weight syncs are not supported")
        if self._use_mtp_drafter_weight_sync():
            raise NotImplementedError("vLLM on the CPU: MTP drafter weight sync is not supported")
        model = self.model_runner.model
        receiver = BucketedWeightReceiver(
            zmq_handle=self._get_zmq_handle(), device=torch.device("cpu"), use_shm=use_shm
        )

        def load_bucket(weights: list[tuple[str, torch.Tensor]], is_last: bool) -> None:
            """Load a bucket; copies, since a layer may wait for a later bucket and this one is reused."""
            model.load_weights([(name, tensor.clone()) for name, tensor in weights])

        initialize_layerwise_reload(model)
        try:
            receiver.receive_weights(on_bucket_received=load_bucket)
        finally:
            finalize_layerwise_reload(model, self.model_runner.model_config)
