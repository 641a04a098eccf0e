"""Collaborative filtering: one module per model family, all fitted on a user x item ``scipy.sparse`` matrix.

Every model has ``fit(train) -> self`` and ``vectors() -> (users, items)``, two torch matrices whose inner
product is the model's score, so that :func:`xlrec_lib.rec.topk.topk` ranks for any of them
(``model.recommend(k, exclude)``) and :meth:`Recommender.scores` gives the dense score matrix for fusion.

- ``popularity.Popularity``: how many users interacted with the item;
- ``item_knn.ItemKNN``: cosine item-item neighbours;
- ``mf.ExplicitMF``: biased matrix factorisation of the ratings by alternating least squares;
- ``als.ImplicitALS``: Hu, Koren and Volinsky's confidence-weighted ALS, conjugate-gradient solves;
- ``bpr.BPR``: Bayesian personalised ranking with sampled negatives (torch);
- ``ease.EASE``: Steck's closed-form item-item model.
"""

from xlrec_lib.rec.cf.als import ImplicitALS
from xlrec_lib.rec.cf.base import Recommender, interaction_matrix
from xlrec_lib.rec.cf.bpr import BPR
from xlrec_lib.rec.cf.ease import EASE
from xlrec_lib.rec.cf.item_knn import ItemKNN
from xlrec_lib.rec.cf.mf import ExplicitMF
from xlrec_lib.rec.cf.popularity import Popularity

__all__ = ["Recommender", "interaction_matrix", "Popularity", "ItemKNN", "ExplicitMF", "ImplicitALS", "BPR", "EASE"]
