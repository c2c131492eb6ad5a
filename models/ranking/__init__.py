"""Pieces of the recommender that are useful on their own: input checks, matrices, weighting."""
