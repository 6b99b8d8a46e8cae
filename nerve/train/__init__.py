"""Floor 8: training made easy and safe: fit / evaluate / predict, callbacks, metrics, History."""

from nerve.train import metrics
from nerve.train.callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint
from nerve.train.history import History
from nerve.train.loop import (
    LOSSES,
    OPTIMIZERS,
    Trainer,
    evaluate,
    fit,
    get_loss,
    get_optimizer,
    predict,
    predict_classes,
    predict_proba,
)
from nerve.train.metrics import (
    accuracy,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    top_k_accuracy,
)

__all__ = [
    "fit", "evaluate", "predict", "predict_classes", "predict_proba", "History", "Callback",
    "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "Trainer", "metrics", "accuracy",
    "top_k_accuracy", "confusion_matrix", "mean_squared_error", "mean_absolute_error",
    "r2_score", "LOSSES", "OPTIMIZERS", "get_loss", "get_optimizer",
]
