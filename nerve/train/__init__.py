"""Training made easy and safe: fit / evaluate / predict over one callback list, callbacks
(History and the progress bar among them), metrics, find_lr, and forecasting (``forecast``,
the naive baselines it must beat, ``mae``, ``rmse`` and ``skill``)."""

from nerve.train import metrics
from nerve.train.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    GradientClipping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from nerve.train.forecasting import (
    forecast,
    mae,
    naive_forecast,
    rmse,
    seasonal_naive_forecast,
    skill,
)
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
from nerve.train.lr_finder import LRFinderResult, find_lr
from nerve.train.metrics import (
    accuracy,
    confusion_matrix,
    decision_threshold,
    default_metrics,
    mean_absolute_error,
    mean_squared_error,
    output_kind,
    r2_score,
    top_k_accuracy,
)
from nerve.train.progress import ProgressBar

__all__ = [
    "fit", "evaluate", "predict", "predict_classes", "predict_proba", "History", "Callback",
    "CallbackList", "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "GradientClipping",
    "LearningRateScheduler", "ReduceLROnPlateau", "ProgressBar", "Trainer", "metrics",
    "accuracy", "top_k_accuracy", "confusion_matrix", "mean_squared_error",
    "mean_absolute_error", "r2_score", "decision_threshold", "output_kind", "default_metrics",
    "LOSSES",
    "OPTIMIZERS", "get_loss", "get_optimizer", "find_lr", "LRFinderResult",
    "forecast", "naive_forecast", "seasonal_naive_forecast", "mae", "rmse", "skill",
]
