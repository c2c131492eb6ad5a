"""churnrec.insights: analyses a person reads (the insight report, campaign read-outs); it
reads the workspace and registered models but never trains or serves."""
