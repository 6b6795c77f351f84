"""Linear intent classifier: multinomial logistic regression trained with scikit-learn, served as
plain numpy weights (one gather + sum + softmax per message)."""
from __future__ import annotations

import numpy as np

from nlu.features import Featurizer


class IntentClassifier:
    def __init__(self, c: float = 20.0, temperature: float = 1.0) -> None:
        self.c = c
        self.temperature = temperature
        self.labels: list[str] = []
        self.coef_t: np.ndarray = np.zeros((0, 0), dtype=np.float32)  # n_features × n_classes
        self.bias: np.ndarray = np.zeros(0, dtype=np.float32)

    def fit(self, featurizer: Featurizer, texts: list[str], labels: list[str]) -> "IntentClassifier":
        from sklearn.linear_model import LogisticRegression

        x = featurizer.transform(texts)
        model = LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced")
        model.fit(x, labels)
        self.labels = [str(c) for c in model.classes_]
        self.coef_t = np.ascontiguousarray(model.coef_.T.astype(np.float32))
        self.bias = model.intercept_.astype(np.float32)
        return self

    def predict(self, idx: np.ndarray, vals: np.ndarray, temperature: float | None = None,
                boost: dict[int, float] | None = None) -> np.ndarray:
        """Probabilities over self.labels for one sparse feature vector.

        `temperature` < 1 sharpens the softmax; `boost` adds to the logits of some classes.
        """
        scores = self.bias + vals @ self.coef_t[idx] if len(idx) else self.bias.copy()
        scores = scores / (temperature or self.temperature)
        for i, b in (boost or {}).items():
            scores[i] += b
        scores -= scores.max()
        p = np.exp(scores)
        return p / p.sum()
