"""Voicemail duty (rules §2): the listenings, the playback AGI, callbacks, and their records."""
