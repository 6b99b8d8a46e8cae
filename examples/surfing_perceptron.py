"""The seed's surfing decision as one threshold perceptron, then Rosenblatt's learning rule.

    python examples/surfing_perceptron.py
"""

import warnings

import numpy as np

from nerve.nn import ConvergenceWarning, Perceptron

# Should you go surfing? x1: the waves are good, x2: the line-up is empty,
# x3: no recent shark attack. Weights say how much each matters; the threshold is 3.
surf = Perceptron(weights=[5, 2, 4], threshold=3)
x = [1, 0, 1]  # the waves are pumping, the crowds are out, no shark attack lately
z = surf.weighted_sum(x)
print(f"y-hat = (1*5) + (0*2) + (1*4) - 3 = {z:g}")
print("output:", surf.predict(x), "-> go surfing" if surf.predict(x) else "-> stay home")

# Rosenblatt's perceptron learns AND and OR, one sample at a time ...
table = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
for name, y in (("AND", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1]), ("XOR", [0, 1, 1, 0])):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        p = Perceptron(2, max_epochs=50).fit(table, y)
    verdict = (f"converged after {len(p.errors_)} epochs" if p.converged_
               else f"did not converge in {p.max_epochs} epochs (not linearly separable)")
    print(f"{name}: predictions {p.predict(table).tolist()} vs {y}: {verdict}")
