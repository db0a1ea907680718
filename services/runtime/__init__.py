"""Runtimes: the loop that feeds records to processors, embedded or on Kafka."""
