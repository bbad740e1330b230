"""Systems of record behind small interfaces; agents call these, never SQL."""
