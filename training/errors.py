"""Errors shared by training jobs."""


class SkippedTraining(RuntimeError):
    """A job that cannot run on this data (e.g. no item ids for the recommender)."""


class TrainingRequestError(ValueError):
    """A fixable problem with what was asked (missing campaign, arm or outcome)."""
