"""``actor_rollout_ref.rollout.name=hf``: a verl rollout backend on Hugging Face transformers (CPU or CUDA).

For tiny models, CI and machines without vLLM. It plugs into verl only through its registries
(``RolloutReplicaRegistry`` and the rollout-class table ``get_rollout_class`` reads; see
``simpletir.plugin``) and speaks the interfaces verl's vLLM backend speaks:

- ``HFRolloutServer`` — one Ray actor per replica; ``generate`` is verl's token-in, token-out call
  (``LLMServerClient.generate`` → ``server.generate.remote``), batched across concurrent requests by
  ``simpletir.backends.hf_generation.GenerationQueue``; ``extra_fields["global_steps"]`` is the weight version.
- ``HFReplica`` — the ``RolloutReplica`` that starts the server next to the trainer workers.
- ``HFServerAdapter`` — the ``BaseRollout`` inside each trainer worker: it receives the actor's weights
  after every update (verl's ``naive`` checkpoint engine) and loads them into the server.

Tensor parallelism is 1: every trainer worker is a replica with its own server.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import ray
import torch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from verl.utils.config import omega_conf_to_dataclass
from verl.workers.config import HFModelConfig, RolloutConfig
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

from simpletir.backends.hf_generation import FINISH_ABORT, GenerationQueue, HFGenerator, SamplingSettings

logger = logging.getLogger(__name__)

SERVER_PREFIX = "simpletir_hf_"


def server_name(replica_rank: int, kind: str = "", suffix: str = "") -> str:
    """Ray actor name of a replica's server (``kind``: ``""``, ``"reward_"`` or ``"teacher_"``)."""
    return f"{SERVER_PREFIX}server_{kind}{replica_rank}{suffix}"


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype for a verl dtype name (``bfloat16``, ``bf16``, ``float32``, ``fp32``, ...)."""
    aliases = {
        "bf16": "bfloat16",
        "fp16": "float16",
        "half": "float16",
        "fp32": "float32",
        "float": "float32",
    }
    dtype = getattr(torch, aliases.get(name, name), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"actor_rollout_ref.rollout.dtype={name!r} is not a torch dtype")
    return dtype


class HFRolloutServer:
    """A generation server for one replica (run as a Ray actor): the model, its weights version, a batch queue."""

    def __init__(self, config: Any, model_config: Any, replica_rank: int = 0) -> None:
        from transformers import AutoModelForCausalLM

        self.config: RolloutConfig = omega_conf_to_dataclass(config)
        self.model_config: HFModelConfig = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        tokenizer = self.model_config.tokenizer
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_config.local_path,
            dtype=torch_dtype(str(self.config.dtype)),
            trust_remote_code=self.model_config.trust_remote_code,
            attn_implementation="sdpa",
        ).to(self.device)
        self.model.eval()
        self.max_model_len = self.config.max_model_len or (
            self.config.prompt_length + self.config.response_length
        )
        generation_config = self.model_config.generation_config
        self.generator = HFGenerator.for_tokenizer(
            self.model,
            tokenizer,
            max_model_len=self.max_model_len,
            seed=int(self.config.seed or 0) + replica_rank,
            generation_eos=generation_config.eos_token_id if generation_config else None,
        )
        self.global_steps = 0
        self._admitted: asyncio.Event | None = None
        self._reject = False
        self._model_lock: asyncio.Lock | None = None
        self._queue: GenerationQueue | None = None
        self._received: set[str] = set()

    def _ensure_loop_state(self) -> None:
        """Create the asyncio primitives and the batch queue on the actor's event loop (first call)."""
        if self._queue is None:
            self._admitted, self._model_lock = asyncio.Event(), asyncio.Lock()
            self._admitted.set()
            max_batch = max(1, int(self.config.max_num_seqs or 1))
            self._queue = GenerationQueue(self.generator, max_batch, lock=self._model_lock)

    async def ready(self) -> str:
        """Return the device the model runs on, once the server can take requests."""
        self._ensure_loop_state()
        return str(self.device)

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Any = None,
        video_data: Any = None,
        **kwargs: Any,
    ) -> TokenOutput:
        """Sample a continuation of ``prompt_ids`` (verl's server interface; text-only)."""
        self._ensure_loop_state()
        if image_data is not None or video_data is not None:
            raise ValueError("the hf rollout is text-only: image_data/video_data are not supported")
        prompt_ids = [int(t) for t in prompt_ids]
        default_max = min(
            self.config.response_length,
            self.config.prompt_length + self.config.response_length - len(prompt_ids),
        )
        settings = SamplingSettings.from_params(dict(sampling_params), default_max_tokens=default_max)
        if len(prompt_ids) >= self.max_model_len:
            raise ValueError(
                f"prompt of {len(prompt_ids)} tokens leaves no room within max_model_len={self.max_model_len}"
            )
        if self._reject:
            return self._output([], [], FINISH_ABORT, settings)
        await self._admitted.wait()
        generation = await self._queue.submit(prompt_ids, settings)
        return self._output(generation.token_ids, generation.log_probs, generation.finish_reason, settings)

    def _output(
        self, ids: list[int], logprobs: list[float], finish: str, settings: SamplingSettings
    ) -> TokenOutput:
        """verl's ``TokenOutput`` (stop reasons as verl's vLLM server maps them)."""
        return TokenOutput(
            token_ids=ids,
            log_probs=logprobs if settings.logprobs else None,
            stop_reason="aborted" if finish == FINISH_ABORT else "completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def load_weights(self, named_tensors: list[tuple[str, torch.Tensor]]) -> None:
        """Copy a bucket of the actor's weights into the model (names as in ``state_dict``)."""
        self._ensure_loop_state()
        params = self.model.state_dict()
        unknown = [name for name, _ in named_tensors if name not in params]
        if unknown:
            raise KeyError(f"hf rollout: weights {unknown[:5]} are not in the rollout model")
        async with self._model_lock:
            with torch.no_grad():
                for name, tensor in named_tensors:
                    params[name].copy_(tensor.to(params[name].device, params[name].dtype))
                    self._received.add(name)

    async def finish_weight_update(self, global_steps: int | None) -> None:
        """End a weight update: every weight must have arrived; ``global_steps`` becomes the version."""
        expected = set(self.model.state_dict())
        tied = {name for name in expected if name.endswith("lm_head.weight")} if self._tied() else set()
        missing = sorted(expected - self._received - tied)
        self._received = set()
        if missing:
            raise RuntimeError(
                f"hf rollout: weight update is missing {len(missing)} tensors, e.g. {missing[:5]}"
            )
        if global_steps is not None:
            self.global_steps = int(global_steps)

    def _tied(self) -> bool:
        """True when the output embedding shares the input embedding's storage."""
        config = getattr(self.model, "config", None)
        return bool(getattr(config, "tie_word_embeddings", False))

    async def set_global_steps(self, global_steps: int) -> None:
        """Set the weight version reported in ``extra_fields``."""
        self.global_steps = int(global_steps)

    async def abort_all_requests(self, reject_request: bool = False) -> dict[str, Any]:
        """End running requests with ``aborted``; later ones wait for ``resume_generation`` (or are refused)."""
        self._ensure_loop_state()
        self._admitted.clear()
        self._reject = reject_request
        self.generator.abort()
        aborted = self._queue.abort_queued()
        async with self._model_lock:
            self.generator.resume()
        return {"aborted_count": aborted}

    async def resume_generation(self) -> None:
        """Admit requests again after ``abort_all_requests``."""
        self._ensure_loop_state()
        self._reject = False
        self._admitted.set()

    async def wake_up(self, tags: list[str] | None = None) -> None:
        """No-op: the model stays resident (verl's sleep/wake frees vLLM's memory)."""

    async def sleep(self) -> None:
        """No-op (see ``wake_up``)."""

    async def clear_kv_cache(self) -> None:
        """No-op: the KV cache lives only inside one batch."""

    async def release_kv_cache(self) -> None:
        """No-op (see ``clear_kv_cache``)."""

    async def resume_kv_cache(self) -> None:
        """No-op (see ``clear_kv_cache``)."""

    async def start_profile(self, **kwargs: Any) -> None:
        """No-op: the hf rollout has no profiler."""

    async def stop_profile(self) -> None:
        """No-op (see ``start_profile``)."""


async def _aiter(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    """Iterate a plain or an async iterable the same way."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


class HFReplica(RolloutReplica):
    """A replica of one ``HFRolloutServer`` on the node of its (single) trainer worker."""

    def _kind(self) -> str:
        """The server name's kind part (reward and teacher servers are named apart)."""
        return "reward_" if self.is_reward_model else "teacher_" if self.is_teacher_model else ""

    async def launch_servers(self) -> None:
        """Start the server actor next to ``self.workers[0]`` and wait until it is ready."""
        if self.world_size != 1:
            raise ValueError(
                "the hf rollout runs one process per replica: set actor_rollout_ref.rollout."
                "tensor_model_parallel_size=1 (and data/pipeline parallel size 1)"
            )
        env: dict[str, str] = {}
        options: dict[str, Any] = {}
        if self.workers:
            node_id, accelerators = await self.workers[0].__ray_call__.remote(
                lambda self: (
                    ray.get_runtime_context().get_node_id(),
                    ray.get_runtime_context().get_accelerator_ids(),
                )
            )
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
            gpus = accelerators.get("GPU") or []
            if gpus and torch.cuda.is_available():
                env = {
                    "CUDA_VISIBLE_DEVICES": ",".join(gpus),
                    "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1",
                }
        name = server_name(self.replica_rank, self._kind(), self.name_suffix)
        server = (
            ray.remote(HFRolloutServer)
            .options(
                name=name,
                num_cpus=0,
                max_concurrency=self.max_concurrency,
                runtime_env={"env_vars": env} if env else None,
                **options,
            )
            .remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        )
        device = await server.ready.remote()
        logger.info("hf rollout: replica %d serves on %s", self.replica_rank, device)
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{name}@{device}"


class HFServerAdapter(BaseRollout):
    """The trainer worker's side of the hf rollout: loads the actor's weights into the replica's server."""

    def __init__(
        self,
        config: RolloutConfig,
        model_config: HFModelConfig,
        device_mesh: Any,
        replica_rank: int = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, model_config, device_mesh)
        self.replica_rank = int(os.environ.get("RANK", 0)) if replica_rank == -1 else replica_rank
        self.is_leader_rank = True
        self._server: ray.actor.ActorHandle | None = None

    @property
    def server(self) -> ray.actor.ActorHandle:
        """This replica's server (looked up by name: it starts after the trainer workers)."""
        if self._server is None:
            self._server = ray.get_actor(server_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        """No-op: the server keeps its model resident."""

    async def release(self) -> None:
        """No-op (see ``resume``)."""

    async def update_weights(
        self,
        weights: Iterable[tuple[str, torch.Tensor]] | AsyncIterable[tuple[str, torch.Tensor]],
        wire_format: str = "named_tensors",
        global_steps: int | None = None,
        peft_config: Any = None,
        **kwargs: Any,
    ) -> None:
        """Send ``weights`` (full tensors, in buckets of ``checkpoint_engine.update_weights_bucket_megabytes``).

        ``weights`` is the actor's generator (verl's ``naive`` engine, hybrid replicas) or a checkpoint
        engine's async generator (standalone replicas, e.g. ``simpletir.backends.ray_checkpoint_engine``).
        """
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf rollout takes full tensors, not wire_format={wire_format!r}")
        if peft_config is not None:
            raise NotImplementedError(
                "the hf rollout loads merged weights only: set actor_rollout_ref.model.lora.merge=True"
            )
        bucket_bytes = int(self.config.checkpoint_engine.update_weights_bucket_megabytes) << 20
        bucket: list[tuple[str, torch.Tensor]] = []
        size = 0
        async for name, tensor in _aiter(weights):
            copy = tensor.detach().to("cpu", copy=True)
            bucket.append((name, copy))
            size += copy.numel() * copy.element_size()
            if size >= bucket_bytes:
                await self.server.load_weights.remote(bucket)
                bucket, size = [], 0
        if bucket:
            await self.server.load_weights.remote(bucket)
        await self.server.finish_weight_update.remote(global_steps)
