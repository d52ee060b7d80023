"""Call-monitoring quality (rules §4): supervisors listen to live calls and score them."""
