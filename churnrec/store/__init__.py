"""The model store: where trained models are written, looked up by alias and loaded.

It sits below both `churnrec.training` (which decides *whether* a model is promoted) and
`churnrec.serving` (which loads the champions), so neither reaches into the other. Only
MLflow, `churnrec.models` and the workspace layout are imported here.
"""
