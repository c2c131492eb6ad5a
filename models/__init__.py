"""churnrec.models: what each model is (fit, predict, save, load). No tracking or I/O policy."""
