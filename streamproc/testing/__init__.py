"""The tools room: simulator, batch oracle, local Kafka broker and producer (not the service)."""
