"""Example anchoring's run-time prompt building moved to the prompt layer (prompts/shots.py).

Kept as the name the analysis side (mitigations/anchoring.py) and the run wiring already import.
"""

from __future__ import annotations

from overthink.prompts.shots import (
    POOL_EXTRA,
    SHOT_SEED_SALT,
    Shots,
    make_shots_for,
    make_shots_of,
    parse_label,
    shot_seed,
    strategy_label,
    worked_answer,
)

__all__ = ["POOL_EXTRA", "SHOT_SEED_SALT", "Shots", "make_shots_for", "make_shots_of", "parse_label",
           "shot_seed", "strategy_label", "worked_answer"]
