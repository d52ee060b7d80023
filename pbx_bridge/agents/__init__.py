"""Agent sessions (rules §3 and §7): log in with 工号 and PIN, pause with a reason, resume, log out."""
