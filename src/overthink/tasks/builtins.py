"""The built-in task families, registered through the same hook a plugin calls (one line each).

The order is the catalog's order: the calibration benchmark and `overthink tasks list` walk it.
"""

from __future__ import annotations

from overthink.tasks import ai_risk, grades, misleading_math, misleading_python, nulls, paradoxes, refusal, zebra
from overthink.tasks.family import Family, register_family


def register_builtins() -> None:
    """Register the seven built-in families with their null models and calibration sizes."""
    register_family(Family(refusal.TASK, nulls.REFUSAL, 100, "bundled harmful/benign pairs x XSTest type; "
                           "refusal and over-refusal curves, no 'all'"))
    register_family(Family(misleading_math.TASK, nulls.MISLEADING_MATH, 300,
                           "counting with 0-5 statistical distractors; 0-distractor items are controls"))
    register_family(Family(misleading_python.TASK, nulls.MISLEADING_PYTHON, 300,
                           "counting with 0-5 Python-snippet distractors; 0-distractor items are controls"))
    register_family(Family(paradoxes.TASK, nulls.PARADOXES, 300,
                           "paradox framings x 0/1/3/5/7 facts; wrong answers include the famous answer"))
    register_family(Family(grades.TASK, nulls.GRADES, 300,
                           "GPA abs error (RMSE) at 0/8/16 shots, same students paired across levels, 3% unparsed"))
    register_family(Family(zebra.TASK, nulls.ZEBRA, 200,
                           "zebra puzzles at grid sizes 5-8 (synthesized metadata: the generator is too slow)"))
    register_family(Family(ai_risk.TASK, nulls.AI_RISK, 49,
                           "6 MWE categories, matching_behavior; unparsed answers rise from 5% to 30% with budget"))
