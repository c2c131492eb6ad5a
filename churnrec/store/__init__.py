"""The model store: trained models written, looked up by alias and loaded.

Below both training (which decides promotion) and serving (which loads champions), so neither
reaches into the other."""
