"""People: subscribers and their consent, signed links, the subscriber CSV."""
