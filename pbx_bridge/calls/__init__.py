"""Call tracking: from queue events to one record per queued call and one per agent offer."""
