"""Passwords, access tokens (JWT), OAuth `state` and login throttling."""
