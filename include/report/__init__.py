"""What readers see at a terminal: the summary of published figures and deliveries."""
