"""Security tests: what a logged-in user could try against other users and the platform."""
