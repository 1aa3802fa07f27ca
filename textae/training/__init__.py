"""Training: recipes, schedules and the one accelerate loop."""

from .loop import TrainResult, complete_checkpoints, train
from .preemption import EXIT_PREEMPTED, TrainingPreempted
from .run_folder import RunFolderError
from .recipe import Recipe, RecipeError, load_recipe
from .schedules import loss_weights_at, weight_at

__all__ = [
    "EXIT_PREEMPTED",
    "Recipe",
    "RecipeError",
    "RunFolderError",
    "TrainResult",
    "TrainingPreempted",
    "complete_checkpoints",
    "load_recipe",
    "loss_weights_at",
    "train",
    "weight_at",
]
