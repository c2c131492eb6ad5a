"""Thin Typer commands: parse options, call a job function, print its summary."""
