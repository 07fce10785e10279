"""What an operator or developer needs to run Homefeed: the local Kafka broker (Python)."""
