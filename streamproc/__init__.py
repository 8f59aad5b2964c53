"""streamproc: continuous inbox analytics on Kafka with Faust."""

__version__ = "0.1.0"
