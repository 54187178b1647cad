"""Alerts: what to tell whom (collect), in which words (templates), over which channel
(channels), delivered once (deliver). Imports go one way: templates <- collect <- deliver,
templates <- channels <- deliver."""
