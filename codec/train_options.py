"""The options every `rcodec train` recipe takes, declared once: where the training data is, the run folder (never
inside the installed package), and the length, batch and learning rate of the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def recipe_options(steps: int, batch: int, lr: float, data_help: str = "Folder of training photos (never the "
                   "evaluation set).", batch_help: str | None = None, data_required: bool = True,
                   state: str = "state.pt") -> Callable[[F], F]:
    """Decorator adding --data (required unless `data_required` is False, for a command that can also work on a
    finished run), --out (required: a run folder with the `state` file; an existing run resumes), --steps (the
    run's total: a resumed run continues to it), --batch and --lr, with this recipe's defaults."""
    options = [
        click.option("--data", type=click.Path(exists=True, file_okay=False), required=data_required,
                     default=None, help=data_help),
        click.option("--out", type=click.Path(file_okay=False), required=True,
                     help=f"Run folder ({state}), outside the installed package; an existing run resumes."),
        click.option("--steps", type=int, default=steps, show_default=True, help="Total steps (resume continues)."),
        click.option("--batch", type=int, default=batch, show_default=True, help=batch_help),
        click.option("--lr", type=float, default=lr, show_default=True, help="Adam learning rate."),
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply
