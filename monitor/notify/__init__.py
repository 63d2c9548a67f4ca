"""Notices and digests: render them from templates/ and deliver them (email through apprise)."""
