"""churnrec.insights: analyses a person reads (the insight report, campaign read-outs).

They read the workspace's tables, snapshots and registered models; nothing here trains or
serves.
"""
