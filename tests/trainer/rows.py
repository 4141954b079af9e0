"""Trajectory rows shaped as verl's V1 agent loop stores them in the TransferQueue (``agent_loop_tq.py``)."""

from __future__ import annotations

import torch

from simpletir.tir.protocol import EndReason
from simpletir.tir.record import TIRRecord


def transfer_queue_rows(
    specs: list[tuple[str, int, bool, bool]], sandbox_errors: tuple[bool, ...] = ()
) -> list[dict]:
    """One row per ``(uid, length, void, correct)``; a non-void row ran one program, whose status is
    ``sandbox_error`` where ``sandbox_errors`` (by row index) says so and ``ok`` otherwise."""
    rows = []
    for i, (uid, length, void, acc) in enumerate(specs):
        rm = torch.zeros(length)
        rm[-1] = float(acc)
        status = "sandbox_error" if i < len(sandbox_errors) and sandbox_errors[i] else "ok"
        rows.append(
            {
                "uid": uid,
                "rm_scores": rm,
                "response_mask": torch.ones(length, dtype=torch.int64),
                "loss_mask": torch.ones(length, dtype=torch.int64),
                "extra_fields": {
                    **TIRRecord(
                        turn_kinds=["void"] if void else ["code", "answer"],
                        code_statuses=[] if void else [status],
                        end_reason=EndReason.VOID if void else EndReason.ANSWER,
                    ).extra_fields(),
                    "reward_extra_info": {"acc": acc},
                },
            }
        )
    return rows
