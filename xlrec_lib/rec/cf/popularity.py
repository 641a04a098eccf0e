"""Popularity: every user gets the items most users interacted with. The baseline every model must beat.

Score ``s_ui = n_i``, the number of users with a stored interaction on item ``i`` in the training matrix
(whatever its value). Nothing is learned per user, so all lists are the same top items minus what the user saw.
"""

from __future__ import annotations

import numpy as np
import torch

from xlrec_lib.rec.cf.base import Recommender, check_train


class Popularity(Recommender):
    """``s_ui = n_i = |{u : x_ui stored}|``; ``vectors()`` = ``(ones (n_users, 1), counts (n_items, 1))``."""

    def fit(self, train) -> Popularity:
        self.train_ = check_train(train)
        self.counts_ = np.bincount(self.train_.indices, minlength=self.train_.shape[1]).astype(np.float32)
        return self

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._fitted()
        return torch.ones(x.shape[0], 1), torch.from_numpy(self.counts_)[:, None]
