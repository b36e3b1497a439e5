"""A task family as the catalog holds it, and `register_family`, the hook built-ins and plugins call.

Kept apart from the catalog's loading (catalog.py) so that a family module can register itself
without importing the code that imports it: the registration hook depends on nothing but the task.
"""

from __future__ import annotations

from dataclasses import dataclass

from overthink.errors import UserError
from overthink.tasks.base import TaskSpec
from overthink.tasks.metric import Metric, register_metric, resolve
from overthink.tasks.null_model import NullModel
from overthink.types import TaskTraits

__all__ = ["REGISTERED", "Family", "register_family"]


@dataclass(frozen=True)
class Family:
    """A task family: its task, what calibration simulates of it, and how it is described there.

    `calibration_n` is the items per simulated store (refusal: every bundled prompt); `null_model`
    None means calibration cannot simulate the family (it is still run, analysed and gated).
    """

    task: TaskSpec
    null_model: NullModel | None = None
    calibration_n: int = 300
    description: str = ""

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def metric(self) -> Metric:
        """The family's metric, as its curves read it (in the direction the task declares)."""
        return resolve(self.task.metric.name, self.task.higher_is_better)

    def traits(self) -> TaskTraits:
        """What a store of this family declares (written with its records)."""
        return self.task.traits()

    def main_stratum(self) -> str:
        """The stratum of the curve a calibration scenario moves: the main items' label, else 'all'."""
        main = getattr(self.null_model, "main", None)
        return f"{main[0]}={main[1]}" if main else "all"


REGISTERED: dict[str, Family] = {}  # read through catalog.families(), which loads them first


def register_family(item: Family) -> Family:
    """Add a family (and its task's metric) to the catalog; the hook built-ins and plugins call.

    Registering the same family again is a no-op; another family under a taken name is an error,
    so a plugin cannot silently replace a built-in."""
    known = REGISTERED.get(item.name)
    if known is not None and known != item:
        raise UserError(f"task family {item.name!r} is registered twice (by {known.task.description!r} "
                        f"and {item.task.description!r})")
    register_metric(item.task.metric)
    REGISTERED[item.name] = item
    return item
