"""Optimizers (in place on parameter arrays, no graph) and learning-rate schedules."""

from nerve.optim import lr_scheduler
from nerve.optim.adadelta import Adadelta
from nerve.optim.adagrad import Adagrad
from nerve.optim.adam import Adam, AdamW
from nerve.optim.gradient_descent import GradientDescent
from nerve.optim.optimizer import Optimizer
from nerve.optim.rmsprop import RMSprop
from nerve.optim.sgd import SGD

__all__ = [
    "Optimizer", "GradientDescent", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "RMSprop",
    "lr_scheduler",
]
