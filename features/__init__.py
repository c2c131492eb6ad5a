"""Point-in-time feature tables: customer snapshot, RFM segments, lifecycle, labels, interactions."""
