"""Serving: the BentoML HTTP service and batch scoring for retention teams."""
