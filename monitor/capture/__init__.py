"""Capture: Playwright pages of the engines, dressed as each market and device, with evidence."""
