"""What verl lacks on a machine without a GPU, through its extension points: the ``cpu`` platform, the ``hf``
rollout backend, the ``ray`` checkpoint engine, and vLLM's CPU build behind verl's own vLLM rollout."""
