"""One typed record of a trajectory's TIR facts: written by the agent loop, read by the filter and the metrics.

The agent loop builds a ``TIRRecord`` turn by turn and hands verl ``record.extra_fields()`` (verl turns
``extra_fields`` into ``non_tensor_batch`` columns). The filter trainer and the metrics read the same
columns back with ``TIRRecord.from_extra_fields``, so the names below are written in one place.

Names: a trajectory is *overlong* when it ended because the response length budget ran out
(``EndReason.OVERLONG``, column ``tir_overlong``); it is *void* when one of its turns had neither a
complete code block nor a final answer (column ``void_turn``, the DESIGN's contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simpletir.tir.protocol import EndReason, TurnKind

VOID_TURN = "void_turn"
OVERLONG = "tir_overlong"
END_REASON = "tir_end_reason"
NUM_TURNS = "tir_num_turns"
CODE_STATUSES = "tir_code_statuses"
"""Per executed code block, the sandbox status (``ok``, ``error``, ``timeout``, ``memory``, ``killed``, ``sandbox_error``)."""
TURN_KINDS = "tir_turn_kinds"
"""Per turn, ``code``, ``answer`` or ``void`` (``simpletir.tir.protocol.TurnKind``)."""
TURN_SPANS = "tir_turn_spans"
"""Per turn, ``[start, end)`` of its sampled tokens in the response (observations lie between turns)."""

CODE_ERROR_STATUSES = frozenset({"error", "memory", "killed"})
"""Statuses that mean the model's program failed (``timeout`` and ``sandbox_error`` are counted apart)."""


@dataclass
class TIRRecord:
    """What a trajectory did, turn by turn: the facts the filter, the metrics and the logs share."""

    turn_kinds: list[str] = field(default_factory=list)
    turn_spans: list[tuple[int, int]] = field(default_factory=list)
    code_statuses: list[str] = field(default_factory=list)
    """Per executed code block, in turn order: a ``code`` turn executes one block."""
    end_reason: EndReason | None = None

    @property
    def num_turns(self) -> int:
        """Generations made (one per turn)."""
        return len(self.turn_kinds)

    @property
    def void(self) -> bool:
        """True when a turn had neither a complete code block nor a final answer."""
        return TurnKind.VOID.value in self.turn_kinds

    @property
    def overlong(self) -> bool:
        """True when the trajectory ended because the response length budget ran out."""
        return self.end_reason is EndReason.OVERLONG

    def count(self, *statuses: str) -> int:
        """Executed code blocks whose sandbox status is one of ``statuses``."""
        return sum(status in statuses for status in self.code_statuses)

    def extra_fields(self) -> dict[str, Any]:
        """The record as verl ``extra_fields`` (plain Python values)."""
        return {
            VOID_TURN: self.void,
            OVERLONG: self.overlong,
            END_REASON: (self.end_reason or EndReason.OVERLONG).value,
            NUM_TURNS: self.num_turns,
            TURN_KINDS: list(self.turn_kinds),
            TURN_SPANS: [[start, end] for start, end in self.turn_spans],
            CODE_STATUSES: list(self.code_statuses),
        }

    @classmethod
    def from_extra_fields(cls, fields: Mapping[str, Any] | None) -> TIRRecord:
        """Read a record back from a trajectory's ``extra_fields`` (missing fields: an empty record)."""
        fields = fields if isinstance(fields, Mapping) else {}
        reason = fields.get(END_REASON)
        kinds = [str(k) for k in fields.get(TURN_KINDS) or []]
        if fields.get(VOID_TURN) and TurnKind.VOID.value not in kinds:
            kinds.append(TurnKind.VOID.value)
        return cls(
            turn_kinds=kinds,
            turn_spans=[(int(start), int(end)) for start, end in fields.get(TURN_SPANS) or []],
            code_statuses=[str(s) for s in fields.get(CODE_STATUSES) or []],
            end_reason=EndReason(reason) if reason in EndReason._value2member_map_ else None,
        )
