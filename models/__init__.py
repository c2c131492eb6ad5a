"""What each model is: fit, predict, save and load. No tracking or I/O policy lives here."""
